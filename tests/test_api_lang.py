"""API problem details in the language asked for, and the lon/lat swap hint."""

from __future__ import annotations

import re

import pytest

from locator.web import create_app

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture()
def client(registry):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0}).test_client()


@pytest.mark.parametrize(("path", "field", "zh", "en"), [
    ("/api/v1/nearest?lon=200&lat=34", "lon", "经度 lon：200.0 超出范围；允许 -180..180",
     "lon: 200.0 is out of range; allowed -180..180"),
    ("/api/v1/nearest?lon=117&lat=95", "lat", "纬度 lat：95.0 超出范围；允许 -90..90",
     "lat: 95.0 is out of range; allowed -90..90"),
    ("/api/v1/nearest?lat=34", "lon", "经度 lon：必填", "lon: is required"),
    ("/api/v1/nearest?lon=117&lat=34&k=0", "k", "结果数 k：0 超出范围；允许 1..100",
     "k: 0 is out of range; allowed 1..100"),
    ("/api/v1/nearest?lon=117&lat=34&mode=car", "mode", "出行方式 mode：未知取值 'car'",
     "mode: unknown value 'car'"),
    ("/api/v1/nearest?lon=117&lat=34&open_at=yesterday", "open_at",
     "时间 open_at：'yesterday' 不是 ISO 8601 日期时间", "open_at: 'yesterday' is not an ISO"),
    ("/api/v1/nearest?lon=117&lat=34&prefer=fast", "prefer", "排序偏好 prefer：未知取值 'fast'",
     "prefer: unknown value 'fast'"),
    ("/api/v1/nearest?lon=2.35&lat=48.85&crs=gcj02", "lon", "经度 lon：2.35 在中国境外",
     "lon: 2.35 is outside China"),
    ("/api/v1/nearest?lon=117&lat=34&colour=red", "colour", "未知参数 'colour'",
     "unknown parameter(s) 'colour'"),
    ("/api/v1/stations?bbox=1,2,3", "bbox", "范围 bbox：'1,2,3' 应为", "bbox: '1,2,3' must be"),
    ("/api/v1/stations?per_page=9999", "per_page", "每页条数 per_page：9999 超出范围",
     "per_page: 9999 is out of range"),
    ("/api/v1/stations?type=spa", "type", "站点类型 type：未知取值 'spa'",
     "type: unknown value 'spa'"),
    ("/api/v1/stations/T01?mode=car", "mode", "出行方式 mode：未知取值", "mode: unknown value"),
    ("/api/v1/meta?lang=fr", "lang", None, "lang: unknown value 'fr'"),
], ids=["lon-range", "lat-range", "lon-missing", "k0", "mode", "open_at", "prefer", "gcj02",
        "unknown", "bbox", "per_page", "stations-type", "station-mode", "meta-lang"])
def test_problem_details_follow_lang(client, path, field, zh, en):
    sep = "&" if "?" in path else "?"
    for lang, want in (("zh", zh), ("en", en), (None, en)):
        if lang is not None and "lang=" in path:
            continue
        r = client.get(path + (f"{sep}lang={lang}" if lang else ""))
        assert r.status_code == 400 and r.mimetype == "application/problem+json"
        p = r.get_json()
        assert p["invalid_params"][0]["name"] == field
        assert want in p["detail"] and want in p["invalid_params"][0]["reason"], p
        if lang == "zh":
            assert p["title"] == "参数无效"
        else:  # the default without lang stays English, as the query API always answered
            assert p["title"] == "Invalid parameter" and not CJK.search(p["detail"])


def test_other_problems_follow_lang(client):
    r = client.get("/api/v1/stations/NOPE?lang=zh")
    assert r.status_code == 404
    assert r.get_json() | {} == r.get_json() and r.get_json()["title"] == "未找到"
    assert r.get_json()["detail"] == "没有编号为 'NOPE' 的站点"
    r = client.get("/api/v1/stations/NOPE")
    assert r.get_json()["detail"] == "station 'NOPE' does not exist"
    r = client.post("/api/v1/nearest?lang=zh")
    assert r.status_code == 405 and "不支持此请求方法" in r.get_json()["detail"]
    assert r.get_json()["title"] == "不支持此请求方法"
    r = client.post("/api/v1/nearest?lang=en")
    assert r.status_code == 405 and r.get_json()["title"] == "Method Not Allowed"
    # an endpoint with its own (English-only) validation: Chinese lead, the field named
    r = client.post("/api/v1/coverage?lang=zh", json={"mode": "car"})
    assert r.status_code == 400 and CJK.search(r.get_json()["detail"])
    assert "mode" in r.get_json()["detail"]


@pytest.mark.parametrize(("query", "field", "lon", "lat"), [
    ("lat=117.18&lon=34.26", "lat", 117.18, 34.26),
    ("lon=34.26&lat=117.18&crs=gcj02", "lat", 117.18, 34.26),
    ("lon=34.2&lat=80.1&crs=gcj02", "lon", 80.1, 34.2),   # GCJ-02 outside China
    ("lon=34.26&lat=80.5", "lon", 80.5, 34.26),           # valid, but 4,000 km from data
], ids=["lat-out-of-range", "gcj02", "gcj02-outside", "far-from-data"])
def test_swapped_lon_lat_get_a_suggestion(registry, query, field, lon, lat):
    # the last case needs data near the swapped point: a station in Xinjiang
    from locator.stations.model import station_from_dict

    registry.add(station_from_dict({"id": "XJ1", "name": "新疆驿站", "type": "outdoor_worker",
                                    "lon": 80.5, "lat": 34.26}), actor="pytest")
    client = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                         "LOCATOR_REFRESH_SECONDS": 0}).test_client()
    for lang, text in (("zh", "经纬度可能填反了：试试 lon="), ("en", "lon and lat look swapped; "
                                                             "try lon=")):
        r = client.get(f"/api/v1/nearest?{query}&lang={lang}")
        assert r.status_code == 400, r.get_json()
        p = r.get_json()
        assert p["invalid_params"][0]["name"] == field
        assert p["suggestion"] == {"lon": pytest.approx(lon), "lat": pytest.approx(lat)}
        assert text in p["detail"]
    assert f"lon={lon}&lat={lat}" in p["detail"]
    fixed = client.get(f"/api/v1/nearest?lon={lon}&lat={lat}&k=1"
                       + ("&crs=gcj02" if "gcj02" in query else ""))
    assert fixed.status_code == 200


@pytest.mark.parametrize("point", [
    (117.18, 34.26), (116.40, 39.90), (87.62, 43.82), (109.51, 18.25), (24.94, 60.17),
    (80.5, 34.26), (34.26, 80.5), (-74.0, 40.7), (151.2, -33.87), (0.0, 0.0), (-180, 90),
    (40.0, 80.0), (10.0, 50.0),
], ids=["xuzhou", "beijing", "urumqi", "sanya", "helsinki", "xinjiang", "arctic",
        "new-york", "sydney", "null-island", "corner", "arctic-2", "europe"])
def test_valid_points_are_never_refused(client, point):
    """With the Xuzhou data only, no valid point is refused: far from the data and its
    swap far from the data too, a point is answered (the horizon says it is far)."""
    r = client.get(f"/api/v1/nearest?lon={point[0]}&lat={point[1]}&k=1")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["count"] == 1

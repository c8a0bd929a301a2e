"""Pasted map share links and coordinate pairs, converted with the project's converters."""

from __future__ import annotations

import pytest

from locator.stations.coords import bd09_to_wgs84, gcj02_to_bd09, gcj02_to_wgs84
from locator.stations.links import LinkNotUnderstood, looks_like_place, parse_place

#: A GCJ-02 point in central Xuzhou (Pengcheng Square as Amap shows it) and its BD-09 twin.
GCJ = (117.1902, 34.2597)
BD = gcj02_to_bd09(*GCJ)
WGS = gcj02_to_wgs84(*GCJ)


def close(p, want, tol=1e-9):
    return abs(p.lon - want[0]) < tol and abs(p.lat - want[1]) < tol


@pytest.mark.parametrize("link, source, name", [
    ("https://uri.amap.com/marker?position=117.1902,34.2597&name=彭城广场&src=x",
     "amap_link", "彭城广场"),
    ("https://uri.amap.com/navigation?to=117.1902,34.2597,彭城广场&mode=walk",
     "amap_link", "彭城广场"),
    ("https://ditu.amap.com/?p=B0FFG1X8XJ,34.2597,117.1902,彭城广场,中山路", "amap_link",
     "彭城广场"),
    ("https://www.amap.com/?lnglat=117.1902,34.2597", "amap_link", ""),
    ("https://apis.map.qq.com/uri/v1/marker?marker=coord:34.2597,117.1902;title:彭城广场;"
     "addr:徐州&referer=app", "tencent_link", "彭城广场"),
    ("https://apis.map.qq.com/uri/v1/geocoder?coord=34.2597,117.1902&referer=app",
     "tencent_link", ""),
    ("https://map.qq.com/?type=marker&pointx=117.1902&pointy=34.2597&name=广场",
     "tencent_link", "广场"),
], ids=["amap-marker", "amap-nav", "amap-p", "amap-lnglat", "qq-marker", "qq-coord",
        "qq-pointx"])
def test_gcj02_links(link, source, name):
    p = parse_place(link)
    assert p is not None and p.source == source and p.crs == "gcj02" and p.name == name
    assert close(p, WGS)
    # the shift is the real GCJ-02 offset, hundreds of metres
    assert abs(p.lon - GCJ[0]) > 0.004


def test_baidu_links_are_bd09():
    for link in (f"https://map.baidu.com/?latlng={BD[1]},{BD[0]}&title=彭城广场",
                 f"https://api.map.baidu.com/marker?location={BD[1]},{BD[0]}&title=彭城广场"
                 "&content=x&output=html&src=app",
                 f"https://api.map.baidu.com/direction?destination=latlng:{BD[1]},{BD[0]}"
                 "|name:彭城广场&mode=walking&output=html"):
        p = parse_place(link)
        assert p.source == "baidu_link" and p.crs == "bd09" and p.name == "彭城广场"
        assert close(p, bd09_to_wgs84(*BD)) and close(p, WGS, 1e-6)


def test_link_crs_parameters():
    p = parse_place("https://uri.amap.com/marker?position=117.1847,34.2612&coordinate=wgs84")
    assert (p.crs, p.lon, p.lat) == ("wgs84", 117.1847, 34.2612)
    p = parse_place(f"https://api.map.baidu.com/marker?location={GCJ[1]},{GCJ[0]}"
                    "&coord_type=gcj02&title=x")
    assert p.crs == "gcj02" and close(p, WGS)
    p = parse_place("https://apis.map.qq.com/uri/v1/marker?marker=coord:34.2612,117.1847"
                    "&coord_type=1")
    assert (p.crs, p.lon, p.lat) == ("wgs84", 117.1847, 34.2612)


@pytest.mark.parametrize("text, order, crs, want", [
    ("117.1902,34.2597", "lon,lat", "gcj02", WGS),
    ("34.2597, 117.1902", "lat,lon", "gcj02", WGS),
    ("117.1902 34.2597", "lon,lat", "gcj02", WGS),
    ("117.1902，34.2597", "lon,lat", "gcj02", WGS),
    ("wgs84 117.1847,34.2612", "lon,lat", "wgs84", (117.1847, 34.2612)),
    ("34.2612,117.1847 GPS", "lat,lon", "wgs84", (117.1847, 34.2612)),
    ("gcj02: 117.1902,34.2597", "lon,lat", "gcj02", WGS),
    (f"bd09 {BD[0]},{BD[1]}", "lon,lat", "bd09", bd09_to_wgs84(*BD)),
    (f"{BD[0]},{BD[1]} 百度", "lon,lat", "bd09", bd09_to_wgs84(*BD)),
], ids=["bare", "swapped", "space", "cn-comma", "wgs84", "gps-after", "gcj02", "bd09",
        "baidu-cn"])
def test_pairs(text, order, crs, want):
    p = parse_place(text)
    assert (p.source, p.order, p.crs) == ("coordinates", order, crs)
    assert close(p, want)
    assert p.crs_assumed == (text in ("117.1902,34.2597", "34.2597, 117.1902",
                                      "117.1902 34.2597", "117.1902，34.2597"))


def test_pair_outside_china():
    p = parse_place("2.3522,48.8566")  # Paris: a bare pair outside China is GPS
    assert (p.crs, p.lon, p.lat, p.order) == ("wgs84", 2.3522, 48.8566, "lon,lat (assumed)")
    p = parse_place("-122.4194, 37.7749")
    assert (p.lon, p.lat, p.order) == (-122.4194, 37.7749, "lon,lat")
    with pytest.raises(LinkNotUnderstood) as e:
        parse_place("gcj02 2.3522,48.8566")
    assert "中国以外" in e.value.message_in("zh") and "outside China" in e.value.message_in("en")


@pytest.mark.parametrize("text, zh, en", [
    ("https://surl.amap.com/4Hq2xYz1", "短链接", "short link"),
    ("https://j.map.baidu.com/8a/AbCd", "短链接", "short link"),
    ("https://www.amap.com/place/B0FFG1X8XJ", "没有坐标", "carries no coordinates"),
    ("https://map.baidu.com/poi/彭城广场/@13045123.45,4040123.67,19z", "墨卡托", "Mercator"),
    ("https://api.map.baidu.com/marker?location=4040123.6,13045123.4&coord_type=bd09mc",
     "墨卡托", "Mercator"),
    ("https://example.com/?position=117.19,34.26", "高德、百度和腾讯", "only Amap"),
    ("300,400", "不是有效的经纬度", "not a valid coordinate"),
], ids=["amap-short", "baidu-short", "no-coords", "mercator-path", "bd09mc", "other-site",
        "range"])
def test_refused_with_a_message(text, zh, en):
    with pytest.raises(LinkNotUnderstood) as e:
        parse_place(text)
    assert zh in e.value.message_in("zh") and en in e.value.message_in("en")
    assert e.value.field == "q"


@pytest.mark.parametrize("text", ["鼓楼区", "xuzhou", "7K3M9Q", "中山北路12号", "123"])
def test_names_are_not_places(text):
    assert parse_place(text) is None and not looks_like_place(text)

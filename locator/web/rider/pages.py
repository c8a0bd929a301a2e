"""Pages for people: the rider finder (/), the all-stations map (/map), station pages.

Views parse the request, call the library and render; the maps are built by
:mod:`locator.web.maps`. The rider page works from the REST API in the browser
(``static/rider.js``); submitting its form without JavaScript renders the same
search on the server, so a shared link such as ``/?lon=..&lat=..`` also works.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from ... import config
from ...errors import InvalidInput, NotFound
from ...index.horizon import horizon
from ...index.results import station_freshness
from ...stations.coords import CRS_CODES, from_wgs84
from ...stations.model import Station
from ...stations.navigation import nav_links
from ...stations.vocab import ACCESS, AMENITIES, OPEN_STATES, STATION_TYPES, STATUSES, Vocabulary
from .. import get_registry
from ..api.routes import nearest_query
from ..i18n import current_lang
from ..i18n import gettext as _
from ..params import bilingual
from ..wechat import request_nav_h5

bp = Blueprint("pages", __name__)

#: Amenities offered as one-tap filters on the rider page (the rest sit under "more").
MAIN_AMENITIES = ("drinking_water", "phone_charging", "ebike_charging", "toilet", "microwave",
                  "air_conditioning", "heating", "first_aid")
NAV_APPS = (("amap", "高德地图", "Amap"), ("baidu", "百度地图", "Baidu Maps"),
            ("tencent", "腾讯地图", "Tencent Maps"), ("osm", "OpenStreetMap", "OpenStreetMap"))
CRS_CHOICES = (("wgs84", "WGS-84（GPS、手机定位）", "WGS-84 (GPS, phone location)"),
               ("gcj02", "GCJ-02（高德、腾讯、微信）", "GCJ-02 (Amap, Tencent, WeChat)"),
               ("bd09", "BD-09（百度）", "BD-09 (Baidu)"))
MODE_LABELS = {"walk": ("步行", "Walk"), "bike": ("自行车", "Bike"),
               "ebike": ("电动车", "E-bike")}
#: How an ETA names the mode: "步行约 6 分钟" / "about 6 min on foot".
ETA_MODE = {"walk": ("步行", "on foot"), "bike": ("骑车", "by bike"),
            "ebike": ("电动车", "by e-bike")}
RESULTS_K = 10
#: Parameters the rider form sends; everything else in the URL is ignored.
_RIDER_FIELDS = ("lon", "lat", "crs", "mode", "type", "amenity", "open_now")

# Texts the browser scripts need, (zh, en).
_JS_STRINGS: dict[str, tuple[str, str]] = {
    "locating": ("正在获取位置…", "Finding your location…"),
    "searching": ("正在查找附近站点…", "Searching nearby stations…"),
    "found": ("找到 {n} 个站点（以{where}为起点）", "{n} stations found near {where}"),
    "where_gps": ("我的位置", "my location"),
    "where_map": ("地图上选的点", "the point picked on the map"),
    "where_typed": ("输入的坐标", "the typed coordinates"),
    "none": ("附近没有符合条件的站点，可以放宽筛选条件再试。",
             "No station matches nearby; try fewer filters."),
    "denied": ("无法使用定位（权限被拒绝）。请在地图上点选位置，或输入坐标。",
               "Location permission denied. Tap the map or type coordinates instead."),
    "unavailable": ("暂时无法获取位置。请在地图上点选位置，或输入坐标。",
                    "Your location is unavailable. Tap the map or type coordinates instead."),
    "timeout": ("定位超时。请在地图上点选位置，或输入坐标。",
                "Locating timed out. Tap the map or type coordinates instead."),
    "unsupported": ("此浏览器不支持定位。请在地图上点选位置，或输入坐标。",
                    "This browser cannot share its location. Tap the map or type "
                    "coordinates instead."),
    "need_coords": ("请输入经度和纬度。", "Please enter a longitude and a latitude."),
    "failed": ("查询失败：", "Search failed: "),
    "offline": ("网络不可用，请稍后再试。", "The network is unavailable; please try again."),
    "local_first": ("正在联网更新……先显示本机保存的站点信息（{age}前保存）。",
                    "Updating… showing the stations saved on this phone ({age} old) meanwhile."),
    "offline_copy": ("网络不可用：以下是本机保存的站点信息（{age}前保存），可能已有变化。",
                     "No network: these are the stations saved on this phone ({age} old); "
                     "they may have changed."),
    "age_minutes": ("{n} 分钟", "{n} min"),
    "age_hours": ("{n} 小时", "{n} h"),
    "where_place": ("所选地点", "the chosen place"),
    "metres": ("{d} 米", "{d} m"),
    "kilometres": ("{d} 公里", "{d} km"),
    "eta": ("{mode}约 {m} 分钟", "about {m} min {mode}"),
    "until": ("，{t} 关门", ", closes {t}"),
    "opens": ("，{t} 开门", ", opens {t}"),
    "navigate": ("导航", "Navigate"),
    "details": ("详情", "Details"),
    "other_apps": ("其他地图：", "Other apps: "),
    "you_are_here": ("查询位置", "Search point"),
    "cluster": ("{n} 个站点，点击放大", "{n} stations; tap to zoom in"),
    "noHours": ("开放时间未知", "opening hours unknown"),
    "rank": ("第 {n} 近", "nearest #{n}"),
    "reported_closed": ("多名骑手反馈此站点关闭或锁门，待工会核实",
                        "Several riders report this station closed or locked; the union "
                        "is checking"),
    "report": ("反馈问题", "Report a problem"),
    "open_reported": ("反馈未开放", "reported closed"),
    "nearest_label": ("离你最近", "Nearest to you"),
    "arrive_open": ("到达时营业中", "open when you arrive"),
    "arrive_closing": ("到达后 {n} 分钟关门", "closes {n} min after you arrive"),
    "arrive_closed": ("到达时已关门", "closed when you arrive"),
    "arrive_unknown": ("营业时间未知", "opening hours unknown"),
    # before a result's entry label (the API's ``entry.label``, at the arrival time)
    "entry_how": ("怎么进门：", "How to get in: "),
    "far_title": ("附近 {km} 公里内没有站点", "No station within {km} km"),
    "far_nearest": ("最近的站点是{name}{place}，直线距离 {d}。",
                    "The nearest station is {name}{place}, {d} away in a straight line."),
    "far_place": ("（{place}）", " in {place}"),
    "swap_question": ("是否要查 lon={lon}, lat={lat}？", "Did you mean lon={lon}, lat={lat}?"),
}


def _js_strings() -> dict[str, str]:
    en = current_lang() == "en"
    out = {k: (v[1] if en else v[0]) for k, v in _JS_STRINGS.items()}
    for code, zh, eng in NAV_APPS:
        out[f"app_{code}"] = eng if en else zh
    for t in ACCESS:
        out[f"access_{t.code}"] = t.label("en" if en else "zh")
    for mode, (zh, eng) in ETA_MODE.items():
        out[f"mode_{mode}"] = eng if en else zh
    for t in OPEN_STATES:
        out[f"open_{t.code}"] = t.label("en" if en else "zh")
    return out


def _lang_url(code: str) -> str:
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return f"{request.path}?{urlencode(args, doseq=True)}"


@bp.app_context_processor
def _page_helpers() -> dict[str, Any]:
    return {"lang_url": _lang_url}


def _settings() -> tuple[str, str, str]:
    cfg = current_app.config
    return cfg["LOCATOR_TILES"], cfg.get("LOCATOR_TIANDITU_KEY") or "", current_lang()


def _vocab_rows(vocab: Vocabulary, lang: str) -> list[dict[str, str]]:
    return [{"code": t.code, "label": t.label(lang)} for t in vocab]


def _center(stations: Sequence[Station]) -> tuple[float, float]:
    from ...cli.demo import DEMO_POINT
    from ..maps import median_center

    return median_center(stations, DEMO_POINT)


# --------------------------------------------------------------------------- rider


def _rider_form(args: MultiDict) -> dict[str, Any]:
    """Values to prefill the form with (raw strings; validated only when searching)."""
    searched = bool(args.get("lon") or args.get("lat"))
    mode = args.get("mode", "walk")
    crs = args.get("crs", "wgs84")
    return {
        "lon": args.get("lon", ""), "lat": args.get("lat", ""),
        "crs": crs if crs in CRS_CODES else "wgs84",
        "mode": mode if mode in config.SPEEDS_KMH else "walk",
        "type": args.get("type", ""),
        "amenities": set(args.getlist("amenity")),
        # The box is ticked by default; once a search was sent, its absence means "off".
        "open_now": (args.get("open_now", "") in ("true", "1", "on")) if searched else True,
        "searched": searched,
    }


def _server_search(args: MultiDict, lang: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The no-JavaScript fallback: the very query ``GET /api/v1/nearest`` runs for the
    page's script (same parameters, ``k``, ranking, swap check and horizon).

    Returns the results (as the API's dicts) and the distance horizon.
    """
    picked = MultiDict([(k, v) for k, v in args.items(multi=True)
                        if k in _RIDER_FIELDS and v != ""])
    picked.setlist("k", [str(RESULTS_K)])
    picked.setlist("lang", [lang])
    query, res, mode = nearest_query(picked, get_registry(),
                                     user_agent=request.headers.get("User-Agent"))
    return ([r.to_dict(mode=mode, lang=lang, h5=query["nav"] == "h5") for r in res],
            horizon(res, max_m=query["horizon_m"]))


def _km(metres: float) -> str:
    return f"{metres / 1000:g}"


def _distance_text(d: float, strings: dict[str, str]) -> str:
    """The same wording as the page's ``distance`` macro and rider.js."""
    if d < 1000:
        return strings["metres"].replace("{d}", str(int(round(d / 10)) * 10))
    return strings["kilometres"].replace("{d}", f"{d / 1000:.1f}")


def _far(hz: dict[str, Any], strings: dict[str, str]) -> dict[str, Any] | None:
    """What the page says when no station is within the horizon (None when one is)."""
    if hz["nearby"]:
        return None
    near = hz.get("nearest")
    where = ""
    if near:
        place = (near.get("city") or "") + (near.get("district") or "")
        where = (strings["far_nearest"].replace("{name}", near["name"])
                 .replace("{place}", strings["far_place"].replace("{place}", place)
                          if place else "")
                 .replace("{d}", _distance_text(near["distance_m"], strings)))
    return {"title": strings["far_title"].replace("{km}", _km(hz["max_m"])),
            "where": where, "id": near["id"] if near else ""}


def _swap_link(e: InvalidInput, args: MultiDict) -> dict[str, Any] | None:
    """For lon/lat that look swapped (the API's ``suggestion``): the swapped pair and
    the link that searches it."""
    sugg = getattr(e, "suggestion", None)
    if not sugg:
        return None
    swapped = args.to_dict(flat=False)
    swapped["lon"], swapped["lat"] = [str(sugg["lon"])], [str(sugg["lat"])]
    return {"lon": sugg["lon"], "lat": sugg["lat"],
            "url": f"{url_for('pages.rider')}?{urlencode(swapped, doseq=True)}"}


def _wgs84_point(args) -> tuple[float, float] | None:
    """The searched point of a no-JavaScript request, in WGS-84 (None if not valid)."""
    from ...stations.coords import validate_lonlat

    try:
        return validate_lonlat(args.get("lon"), args.get("lat"), crs=args.get("crs") or "wgs84")
    except (InvalidInput, TypeError, ValueError):
        return None


@bp.get("/")
def rider():
    from ..maps import TYPE_COLORS, build_rider_map, render_parts

    tiles, key, lang = _settings()
    stations = get_registry().index.stations()
    form = _rider_form(request.args)
    strings = _js_strings()
    results: list[dict[str, Any]] | None = None
    far = suggestion = error = None
    if form["searched"]:
        try:
            results, hz = _server_search(request.args, lang)
            far = _far(hz, strings)
        except InvalidInput as e:
            error = bilingual(e).message_in(lang)  # the API's words, in the page's language
            suggestion = _swap_link(e, request.args)
    m = build_rider_map(center=_center(stations), tiles=tiles, tianditu_key=key, lang=lang,
                        label=_("附近站点地图", "Map of nearby stations"))
    parts = render_parts(m)
    types = [{"code": t.code, "label": t.label(lang), "color": TYPE_COLORS.get(t.code, "")}
             for t in STATION_TYPES]
    amenities = _vocab_rows(AMENITIES, lang)
    page_config = {
        "lang": lang,
        "api": url_for("api.nearest"),
        "stationPage": url_for("pages.station_page", sid="_ID_").replace("_ID_", ""),
        "k": RESULTS_K,
        "mapKey": "rider",
        "strings": strings,
        "types": {t["code"]: [t["label"], t["color"]] for t in types},
        "navApps": [code for code, _zh, _en in NAV_APPS],
        "horizonM": current_app.config["LOCATOR_SETTINGS"].nearby_horizon_m,
    }
    from ..api.alerts import alert_banner_context

    point = _wgs84_point(request.args) if form["searched"] and not error else None
    banner = alert_banner_context(lon=point[0], lat=point[1]) if point else \
        alert_banner_context()
    return render_template(
        "rider.html", alert_banner=banner,
        sample_data=any(s.is_sample for s in stations),
        map=parts, form=form, results=results, error=error, far=far, suggestion=suggestion,
        types=types,
        main_amenities=[a for a in amenities if a["code"] in MAIN_AMENITIES],
        more_amenities=[a for a in amenities if a["code"] not in MAIN_AMENITIES],
        modes=[{"code": m_, "label": _(*MODE_LABELS[m_]), "speed": v}
               for m_, v in config.SPEEDS_KMH.items()],
        crs_choices=[(code, _(zh, en)) for code, zh, en in CRS_CHOICES],
        nav_apps=[(code, _(zh, en)) for code, zh, en in NAV_APPS],
        strings=page_config["strings"], page_config=page_config,
        detour=config.DETOUR_FACTOR,
    )


# --------------------------------------------------------------------------- map


@lru_cache(maxsize=1)
def _districts() -> dict[str, Any] | None:
    from ...cli.demo import load_districts

    try:
        return load_districts()
    except FileNotFoundError:
        return None


def _cluster_strings() -> dict[str, str]:
    s = _js_strings()
    keys = ("navigate", "details", "cluster", "noHours", "app_amap", "app_baidu",
            "app_tencent", "app_osm", "access_workers_only", "access_qr_entry",
            "report", "reported_closed", "open_reported")
    return {k: s[k] for k in keys}


@bp.get("/map")
def stations_map():
    from ..maps import build_stations_map, render_parts

    tiles, key, lang = _settings()
    # Closed stations are not shown to the public; temporarily closed ones are (as closed).
    stations = [s for s in get_registry().index.stations() if s.status != "closed"]
    sample = any(s.is_sample for s in stations)
    m = build_stations_map(stations, tiles=tiles, tianditu_key=key, lang=lang,
                           label=_("全部站点地图", "Map of all stations"),
                           strings=_cluster_strings(), districts=_districts(),
                           sample_data=sample)
    return render_template("map.html", sample_data=sample, map=render_parts(m),
                           count=len(stations))


# --------------------------------------------------------------------------- station


@bp.get("/stations/<sid>")
def station_page(sid: str):
    from ...stations.entry import entry_now, toilet_label
    from ..maps import TYPE_COLORS, build_station_map, hours_words, render_parts

    tiles, key, lang = _settings()
    try:
        st = get_registry().index.get(sid)
    except NotFound:
        raise NotFound(_(f"没有编号为 {sid!r} 的站点", f"station {sid!r} does not exist")) \
            from None
    mode = request.args.get("mode", "walk")
    if mode not in config.SPEEDS_KMH:
        mode = "walk"
    state, change = st.open_state()  # at the station's position: sunrise, sunset
    links = nav_links(st.lon, st.lat, st.name, mode=mode, h5=request_nav_h5())
    coords = [("WGS-84", (st.lon, st.lat))]
    for code, label in (("gcj02", "GCJ-02"), ("bd09", "BD-09")):
        coords.append((label, from_wgs84(st.lon, st.lat, code)))
    m = build_station_map(st, tiles=tiles, tianditu_key=key, lang=lang,
                          label=_("站点位置地图", "Map of the station"))
    return render_template(
        "station.html",
        sample_data=st.is_sample, st=st, map=render_parts(m),
        type_label=STATION_TYPES[st.type].label(lang),
        type_color=TYPE_COLORS.get(st.type, "#495057"),
        status_label=STATUSES[st.status].label(lang),
        access_label=ACCESS[st.access].label(lang),
        amenities=[{"code": a, "label": AMENITIES[a].label(lang)} for a in st.amenities],
        open_state=state, open_label=OPEN_STATES[state].label(lang),
        hours_text=hours_words(st.opening_hours, lang),
        next_change=change, links=links,
        nav_apps=[(code, _(zh, en)) for code, zh, en in NAV_APPS],
        coords=coords, mode=mode,
        freshness=station_freshness(st), reported_closed=st.reported_closed_at is not None,
        entry=entry_now(st), toilet=toilet_label(st, lang),
        staffed_text=hours_words(st.staffed_hours, lang) if st.staffed_hours else None,
    )

"""The star ladders: per station type, what each star asks of a station, where each item
comes from (:data:`SOURCES`), and how it is judged from the station's record.
:mod:`locator.upkeep.ratings` turns a ladder into a suggested level.

Which star an item belongs to is the project's own reading, except Fuzhou's five-star
requirements; items whose source is ``project`` are the project's own rules, not an
official standard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..stations.hours import parse_hours
from ..stations.model import Station
from ..stations.vocab import AMENITIES

MET, MISSING, UNKNOWN = "met", "missing", "unknown"
@dataclass(frozen=True, slots=True)
class Source:
    key: str
    short_zh: str
    short_en: str
    zh: str
    en: str
    official: bool

    def label(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh

    def short(self, lang: str = "zh") -> str:
        return self.short_en if lang == "en" else self.short_zh


SOURCES: dict[str, Source] = {s.key: s for s in (
    Source("acftu_2023", "双15", "双15 programme",
           "全国总工会“双15”（2023年7月）：标准站点使用面积不少于 5 平方米，"
           "基本配置为饮水机、微波炉、桌椅、手机充电和应急药箱，有条件的配卫生间",
           "ACFTU “双15” programme (July 2023): a standard station has at least 5 m² of "
           "usable space and a water dispenser, a microwave, tables and chairs, phone "
           "charging and a medicine kit, plus a toilet where possible", True),
    Source("wuhan", "武汉七个一", "Wuhan 七个一",
           "武汉“七个一”：室内空间、桌凳、微波炉、饮水机、冷暖设施、冰箱、药箱",
           "Wuhan's “七个一”: an indoor space, table and stools, a microwave, a water "
           "dispenser, heating/cooling, a fridge and a medicine kit", True),
    Source("fuzhou", "福州星级", "Fuzhou stars",
           "福州星级评定：五星级须使用面积不少于 30 平方米、配 AED、可容纳 20 人以上；"
           "未按公示时间开放的站点降级或摘牌",
           "Fuzhou's star rating: five stars needs ≥ 30 m², an AED and room for ≥ 20 "
           "people; stations not open at their stated hours are downgraded or removed", True),
    Source("mother_baby_2016", "十部门母婴室", "ten-ministry guideline",
           "十部门母婴设施指导意见（2016）：面积不少于 10 平方米，配尿布台、"
           "热水洗手池、婴儿床、椅子、桌子、电源插座、垃圾桶和可上锁的门",
           "Ten-ministry mother-baby room guideline (2016): at least 10 m², a diaper-changing "
           "table, a washbasin with hot water, a baby bed, a chair, a table, a power socket, "
           "a bin and a lockable door", True),
    Source("driver_home", "司机之家", "driver's home",
           "司机之家基本要求：统一标识、不少于 20 个货车停车位、2 个淋浴间、"
           "2 台洗衣机、24 小时开放",
           "Driver's-home minimums: a uniform sign, at least 20 truck bays, 2 showers, "
           "2 washing machines, open 24 hours", True),
    Source("project", "本项目解读", "project reading", "本项目的解读（非官方标准）",
           "the project's own reading (not an official standard)", False),
)}

_STATE_TEXT = {MET: ("具备", "met"), MISSING: ("缺少", "missing"),
               UNKNOWN: ("待现场确认", "needs an on-site answer")}

Judge = Callable[[Station], tuple[str, str, str]]  # -> state, note (zh), note (en)


@dataclass(frozen=True, slots=True)
class Item:
    """One checklist item: the star it belongs to, what it asks, where that comes from."""

    key: str
    level: int
    zh: str
    en: str
    source: str
    judge: Judge

    def label(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


def _names(codes: Iterable[str], lang: str) -> str:
    return ("、" if lang == "zh" else ", ").join(AMENITIES[c].label(lang) for c in codes)


def _has(*codes: str, any_of: bool = False) -> Judge:
    """Met when the record lists the amenities (all of them, or one with ``any_of``)."""
    def judge(st: Station) -> tuple[str, str, str]:
        found = [c for c in codes if c in st.amenities]
        if found if any_of else len(found) == len(codes):
            return MET, f"记录中有：{_names(found, 'zh')}", f"listed: {_names(found, 'en')}"
        lacking = codes if any_of else [c for c in codes if c not in found]
        joiner = ("或", " or ") if any_of else ("、", ", ")
        zh = joiner[0].join(AMENITIES[c].zh for c in lacking)
        en = joiner[1].join(AMENITIES[c].en for c in lacking)
        return MISSING, f"记录中未列出：{zh}", f"not in the record's amenities: {en}"
    return judge


def _on_site(zh: str, en: str) -> Judge:
    """Something the record does not hold: always unknown until checked on site."""
    def judge(st: Station) -> tuple[str, str, str]:
        return (UNKNOWN, f"记录中没有此项，需现场确认{zh}",
                f"not in the record; {en or 'check on site'}")
    return judge


def _listed_then_count(code: str, zh: str, en: str) -> Judge:
    """Missing when the amenity is not listed; when it is, the count needs a visit."""
    def judge(st: Station) -> tuple[str, str, str]:
        a = AMENITIES[code]
        if code not in st.amenities:
            return MISSING, f"记录中未列出：{a.zh}", f"not in the record's amenities: {a.en}"
        return (UNKNOWN, f"已列出{a.zh}，{zh}需现场清点",
                f"{a.en} is listed; count {en} on site")
    return judge


def _hours_stated(st: Station) -> tuple[str, str, str]:
    if st.opening_hours:
        return MET, f"开放时间：{st.opening_hours}", f"opening hours: {st.opening_hours}"
    return MISSING, "记录中没有开放时间", "the record states no opening hours"


def _open_24h(st: Station) -> tuple[str, str, str]:
    if not st.opening_hours:
        return UNKNOWN, "记录中没有开放时间，需现场确认", "no opening hours recorded; check on site"
    if parse_hours(st.opening_hours).is_always_open:
        return MET, f"开放时间：{st.opening_hours}", f"opening hours: {st.opening_hours}"
    return (MISSING, f"开放时间为 {st.opening_hours}，并非 24 小时",
            f"opening hours {st.opening_hours} are not 24 hours")


def _entry_without_scan(st: Station) -> tuple[str, str, str]:
    if st.access == "qr_entry":
        return MISSING, "需扫码进入", "entry needs a QR-code scan"
    return MET, "无需扫码进入", "no scan needed to enter"


# ------------------------------------------------------------------------ ladders

def _i(key: str, level: int, zh: str, en: str, source: str, judge: Judge) -> Item:
    return Item(key, level, zh, en, source, judge)


_HOURS = ("hours_stated", "公示开放时间", "Opening hours stated")
_HEAT_COOL = ("heating_cooling", "冷暖设施（空调或取暖）", "Heating or cooling")

#: Outdoor-worker rest stations. 1: what riders rely on most (rest, water, charging; the
#: slogan 渴可喝水、累可歇脚); 2: the whole 双15 base kit; 3: Wuhan's 七个一;
#: 4: a toilet and entry without a scan (field reports of "download an app to scan in",
#: Liaocheng); 5: Fuzhou's five-star requirements.
OUTDOOR: tuple[Item, ...] = (
    _i("seating", 1, "座椅（桌椅）", "Seating (tables and chairs)", "acftu_2023", _has("seating")),
    _i("drinking_water", 1, "饮用水（饮水机）", "Drinking water (dispenser)", "acftu_2023",
       _has("drinking_water")),
    _i("phone_charging", 1, "手机充电", "Phone charging", "acftu_2023", _has("phone_charging")),
    _i(_HOURS[0], 1, _HOURS[1], _HOURS[2], "project", _hours_stated),
    _i("microwave", 2, "微波炉", "Microwave", "acftu_2023", _has("microwave")),
    _i("first_aid", 2, "应急药箱", "First-aid kit", "acftu_2023", _has("first_aid")),
    _i("area_5", 2, "使用面积不少于 5 平方米", "At least 5 m² of usable space", "acftu_2023",
       _on_site("面积", "measure the area on site")),
    _i("indoor", 3, "室内空间", "An indoor space", "wuhan",
       _on_site("是否为室内", "check on site that it is indoors")),
    _i(_HEAT_COOL[0], 3, _HEAT_COOL[1], _HEAT_COOL[2], "wuhan",
       _has("air_conditioning", "heating", any_of=True)),
    _i("fridge", 3, "冰箱", "Fridge", "wuhan", _has("fridge")),
    _i("toilet", 4, "卫生间", "Toilet", "acftu_2023", _has("toilet")),
    _i("entry", 4, "无需扫码即可进入", "Entry without scanning a code", "project",
       _entry_without_scan),
    _i("area_30", 5, "使用面积不少于 30 平方米", "At least 30 m² of usable space", "fuzhou",
       _on_site("面积", "measure the area on site")),
    _i("aed", 5, "AED 除颤仪", "An AED", "fuzhou", _has("aed")),
    _i("capacity_20", 5, "可容纳 20 人以上", "Room for at least 20 people", "fuzhou",
       _on_site("容纳人数", "check on site how many it holds")),
)

#: Mother-baby rooms. 1-3 are the ten-ministry list (privacy and changing first, then
#: washing and fittings, then size and a baby bed); 4-5 are the project's own reading
#: (water for formula and a fridge for expressed milk; heating/cooling and a medicine kit).
MOTHER_BABY: tuple[Item, ...] = (
    _i("lockable_door", 1, "可上锁的门", "A lockable door", "mother_baby_2016",
       _has("lockable_door")),
    _i("baby_changing", 1, "尿布台（婴儿护理台）", "Diaper-changing table", "mother_baby_2016",
       _has("baby_changing")),
    _i("chair", 1, "椅子（哺乳椅）", "A chair (nursing chair)", "mother_baby_2016",
       _has("nursing_chair", "seating", any_of=True)),
    _i(_HOURS[0], 1, _HOURS[1], _HOURS[2], "project", _hours_stated),
    _i("hot_water_basin", 2, "热水洗手池", "Washbasin with hot water", "mother_baby_2016",
       _has("hot_water_basin")),
    _i("table", 2, "桌子", "A table", "mother_baby_2016", _on_site("", "")),
    _i("socket", 2, "电源插座", "A power socket", "mother_baby_2016", _on_site("", "")),
    _i("bin", 2, "垃圾桶", "A bin", "mother_baby_2016", _on_site("", "")),
    _i("area_10", 3, "面积不少于 10 平方米", "At least 10 m²", "mother_baby_2016",
       _on_site("面积", "measure the area on site")),
    _i("baby_bed", 3, "婴儿床", "A baby bed", "mother_baby_2016", _on_site("", "")),
    _i("drinking_water", 4, "饮用水（冲调奶粉）", "Drinking water (for formula)", "project",
       _has("drinking_water")),
    _i("fridge", 4, "冰箱（存放母乳）", "Fridge (for expressed milk)", "project", _has("fridge")),
    _i(_HEAT_COOL[0], 5, _HEAT_COOL[1], _HEAT_COOL[2], "project",
       _has("air_conditioning", "heating", any_of=True)),
    _i("first_aid", 5, "应急药箱", "First-aid kit", "project", _has("first_aid")),
)

#: Driver's homes. 1: parking, a toilet, open 24 hours; 2: showers and a rest area with
#: charging; 3: the full minimums (sign, 20 bays, 2 showers, 2 washing machines, counted
#: on site); 4: the outdoor base kit's microwave and medicine kit; 5: an AED and heating
#: or cooling. Only the minimums are official; the ladder is the project's reading.
DRIVER_HOME: tuple[Item, ...] = (
    _i("truck_parking", 1, "货车停车位", "Truck parking", "driver_home", _has("truck_parking")),
    _i("open_24h", 1, "24 小时开放", "Open 24 hours", "driver_home", _open_24h),
    _i("toilet", 1, "卫生间", "Toilet", "project", _has("toilet")),
    _i("shower", 2, "淋浴", "Showers", "driver_home", _has("shower")),
    _i("seating", 2, "休息座椅", "Seating", "project", _has("seating")),
    _i("phone_charging", 2, "手机充电", "Phone charging", "project", _has("phone_charging")),
    _i("sign", 3, "统一标识", "The uniform sign", "driver_home", _on_site("", "")),
    _i("bays_20", 3, "不少于 20 个货车停车位", "At least 20 truck bays", "driver_home",
       _listed_then_count("truck_parking", "车位数", "the bays")),
    _i("showers_2", 3, "2 个淋浴间", "2 showers", "driver_home",
       _listed_then_count("shower", "淋浴间数", "the showers")),
    _i("washers_2", 3, "2 台洗衣机", "2 washing machines", "driver_home", _on_site("", "")),
    _i("microwave", 4, "微波炉", "Microwave", "acftu_2023", _has("microwave")),
    _i("first_aid", 4, "应急药箱", "First-aid kit", "acftu_2023", _has("first_aid")),
    _i("aed", 5, "AED 除颤仪", "An AED", "fuzhou", _has("aed")),
    _i(_HEAT_COOL[0], 5, _HEAT_COOL[1], _HEAT_COOL[2], "wuhan",
       _has("air_conditioning", "heating", any_of=True)),
)

#: The checklist of each station type. Worker service centres and women workers' stations
#: host the outdoor-worker services and use that ladder (the project's reading); there is
#: no standard for legal-aid points in the field notes, so they have none.
LADDERS: dict[str, tuple[Item, ...]] = {
    "outdoor_worker": OUTDOOR, "service_centre": OUTDOOR, "women_worker": OUTDOOR,
    "mother_baby": MOTHER_BABY, "driver_home": DRIVER_HOME,
}


# ------------------------------------------------------------------------ the suggestion

"""The controlled vocabularies, each term with a Simplified Chinese and an English label.

This is the one place that defines station types, amenities, access rules,
statuses and record sources. Everything else (validation, import headers,
the API's ``/meta``, page labels) reads from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Term:
    code: str
    zh: str
    en: str
    #: Other spellings accepted on input (Chinese names seen in spreadsheets, old codes).
    aliases: tuple[str, ...] = ()

    def label(self, lang: str = "zh") -> str:
        return self.en if lang.startswith("en") else self.zh


class Vocabulary:
    """An ordered set of terms, looked up by code, label or alias."""

    def __init__(self, name: str, terms: Iterable[Term]):
        self.name = name
        self.terms: tuple[Term, ...] = tuple(terms)
        self.codes: tuple[str, ...] = tuple(t.code for t in self.terms)
        self._by_code = {t.code: t for t in self.terms}
        self._lookup: dict[str, str] = {}
        for t in self.terms:
            for key in (t.code, t.zh, t.en, *t.aliases):
                self._lookup[_norm(key)] = t.code

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self):
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)

    def __getitem__(self, code: str) -> Term:
        return self._by_code[code]

    def index(self, code: str) -> int:
        return self.codes.index(code)

    def parse(self, value: str, *, field: str | None = None) -> str:
        """Return the code for ``value`` (a code, a zh/en label or an alias).

        Raises
        ------
        InvalidInput
            Naming the field and the allowed codes.
        """
        code = self._lookup.get(_norm(value))
        if code is None:
            raise InvalidInput(
                f"{field or self.name}: unknown value {value!r}; "
                f"allowed: {', '.join(self.codes)}",
                field=field or self.name,
            )
        return code

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"code": t.code, "zh": t.zh, "en": t.en} for t in self.terms]


def _norm(s: str) -> str:
    return "".join(str(s).split()).lower().replace("-", "_").replace("’", "'")


STATION_TYPES = Vocabulary(
    "type",
    [
        Term("outdoor_worker", "户外劳动者服务站点", "Outdoor-worker rest station",
             ("爱心驿站", "户外劳动者服务站", "户外劳动者驿站", "驿站", "rest_station", "outdoor")),
        Term("mother_baby", "母婴室", "Mother-baby room",
             ("爱心妈咪小屋", "妈咪小屋", "母婴关爱室", "mother_baby_room", "nursing_room")),
        Term("service_centre", "职工服务中心", "Worker service centre",
             ("职工服务站", "service_center", "worker_service_centre")),
        Term("driver_home", "司机之家", "Driver's home", ("drivers_home", "driver's_home")),
        Term("legal_aid", "法律援助站点", "Legal-aid point",
             ("法律援助站", "法律援助工作站", "legal_aid_point")),
        Term("women_worker", "女职工康乃馨服务站", "Women workers' station",
             ("康乃馨服务站", "康乃馨驿站", "women_workers_station")),
    ],
)

AMENITIES = Vocabulary(
    "amenity",
    [
        Term("seating", "座椅", "Seating", ("桌椅", "休息座椅")),
        Term("drinking_water", "饮用水", "Drinking water", ("饮水机", "热水", "water")),
        Term("microwave", "微波炉", "Microwave"),
        Term("air_conditioning", "空调", "Air conditioning", ("ac", "cooling")),
        Term("heating", "取暖", "Heating", ("暖气",)),
        Term("fridge", "冰箱", "Fridge", ("refrigerator",)),
        Term("phone_charging", "手机充电", "Phone charging", ("充电", "charging")),
        Term("ebike_charging", "电动车充电/换电", "E-bike charging or battery swap",
             ("电动车充电", "换电", "battery_swap")),
        Term("first_aid", "急救药箱", "First-aid kit", ("医药箱", "药箱", "first_aid_kit")),
        Term("toilet", "卫生间", "Toilet", ("厕所", "toilets")),
        Term("wifi", "无线网络", "Wi-Fi", ("wi_fi", "无线网")),
        Term("reading_corner", "阅读角", "Reading corner", ("书架", "图书角")),
        Term("baby_changing", "婴儿护理台", "Baby-changing table", ("尿布台", "changing_table")),
        Term("nursing_chair", "哺乳椅", "Nursing chair"),
        Term("hot_water_basin", "热水洗手池", "Washbasin with hot water", ("洗手池", "washbasin")),
        Term("lockable_door", "可上锁门", "Lockable door", ("门锁",)),
        Term("aed", "AED除颤仪", "AED", ("除颤仪", "aed_defibrillator")),
        Term("shower", "淋浴", "Shower", ("洗浴",)),
        Term("truck_parking", "货车停车位", "Truck parking", ("停车位", "truck_bays")),
    ],
)

ACCESS = Vocabulary(
    "access",
    [
        Term("public", "对公众开放", "Open to the public", ("公众", "public_access")),
        Term("workers_only", "仅限劳动者", "Workers only", ("仅限职工", "workers")),
        Term("qr_entry", "扫码进入", "QR-code entry", ("扫码", "qr", "qr_code")),
    ],
)

#: How a rider gets in when no staff are there to open the door (``""`` = not known).
#: "Download an app to scan in" and password locks are what riders meet most at the door
#: (FIELD-NOTES, "What fails riders"): the record says which, so the page can say it.
ENTRY_METHODS = Vocabulary(
    "entry_method",
    [
        Term("none", "无需验证，直接进入", "Walk in, no check", ("直接进入", "无", "open_door",
                                                        "walk_in")),
        Term("qr_code", "扫码开门", "Scan a QR code", ("扫码", "扫码进入", "二维码", "qr",
                                                 "qr_entry")),
        Term("face", "刷脸进入", "Face recognition", ("刷脸", "人脸识别", "face_id")),
        Term("id_card", "刷身份证进入", "ID card", ("身份证", "刷身份证", "id")),
        Term("member_code", "工会会员码 / 工会卡", "Union member code or card",
             ("会员码", "工会卡", "工会会员卡", "member_card", "union_card")),
        Term("keypad", "密码锁", "Keypad lock", ("密码", "密码门", "password", "pin")),
        Term("ask_staff", "找工作人员开门", "Ask the staff", ("找工作人员", "人工开门",
                                                        "staff")),
        Term("phone", "电话联系开门", "Call to be let in", ("电话开门", "打电话", "call")),
    ],
)

#: Who may use the station's toilet (``""`` = not known).
TOILET_ACCESS = Vocabulary(
    "toilet_access",
    [
        Term("public", "对公众开放", "Open to everyone", ("公共", "公开", "公厕")),
        Term("customers", "仅限顾客或内部使用", "Customers or staff only",
             ("仅限顾客", "仅限内部", "内部", "customers_only", "staff_only")),
    ],
)

STATUSES = Vocabulary(
    "status",
    [
        Term("open", "正常开放", "Open", ("开放", "运营", "active")),
        Term("temporarily_closed", "暂停开放", "Temporarily closed", ("暂停", "暂时关闭")),
        Term("closed", "已关闭", "Closed", ("关闭", "撤销", "permanently_closed")),
    ],
)

SOURCES = Vocabulary(
    "source",
    [
        Term("official", "工会官方数据", "Official union data", ("官方",)),
        Term("staff", "工作人员录入", "Entered by staff", ("录入",)),
        Term("sample", "示例数据（非真实站点）", "Sample data (not real stations)",
             ("示例", "illustrative")),
        Term("import", "批量导入", "Bulk import", ("导入",)),
    ],
)

OPEN_STATES = Vocabulary(
    "open_status",
    [
        Term("open", "营业中", "Open now"),
        Term("closed", "已打烊", "Closed now"),
        Term("unknown", "时间未知", "Hours unknown"),
    ],
)

#: Bit position of each amenity in the index's amenity bitmask.
AMENITY_BIT: dict[str, int] = {code: 1 << i for i, code in enumerate(AMENITIES.codes)}


def amenity_mask(codes: Iterable[str]) -> int:
    mask = 0
    for c in codes:
        mask |= AMENITY_BIT[c]
    return mask


def amenities_from_mask(mask: int) -> tuple[str, ...]:
    return tuple(c for c, bit in AMENITY_BIT.items() if mask & bit)


def all_vocabularies() -> dict[str, list[dict[str, str]]]:
    return {
        "types": STATION_TYPES.as_dicts(),
        "amenities": AMENITIES.as_dicts(),
        "access": ACCESS.as_dicts(),
        "entry_methods": ENTRY_METHODS.as_dicts(),
        "toilet_access": TOILET_ACCESS.as_dicts(),
        "statuses": STATUSES.as_dicts(),
        "sources": SOURCES.as_dicts(),
        "open_states": OPEN_STATES.as_dicts(),
    }

"""Heat and cold alerts: kinds, levels, the alert record and the checks of its fields.

Levels follow China's meteorological warning signals, as published by the China
Meteorological Administration in 《气象灾害预警信号及防御指南》 (the annex of
《气象灾害预警信号发布与传播办法》, CMA Order No. 16, 2007):

- **高温 heat** (three levels): yellow, a daily maximum of 35 °C or more on three days
  running; orange, 37 °C or more within 24 hours; red, 40 °C or more within 24 hours.
- **寒潮 cold wave** (four levels): blue, within 48 hours the minimum temperature falls
  by 8 °C or more to 4 °C or below, with land wind force 5 or more; yellow, a fall of
  10 °C or more within 24 hours to 4 °C or below, wind force 6 or more; orange, a fall
  of 12 °C or more to 0 °C or below, wind force 6 or more; red, a fall of 16 °C or more
  to 0 °C or below, wind force 6 or more (each also when the fall has happened and may
  go on).

What a heat level means for outdoor work is from 《防暑降温措施管理办法》 (2012): at
40 °C and above outdoor work stops for the day; from 37 °C up to 40 °C at most six
hours outdoors and none in the three hottest hours; from 35 °C up to 37 °C shorter
outdoor shifts. The cold-wave advice shown to riders is the project's plain reading of
the CMA defence guidance (dress warmly; stay outdoors less; warm up at a station).

An alert covers a set of areas (GB/T 2260 adcodes): a district such as ``320303``
covers itself; a city code such as ``320300`` covers all its districts, exactly as an
account's scope does (:func:`locator.staff.roles.in_scope`). Times are stored in UTC
and shown in Asia/Shanghai; a naive input time is Asia/Shanghai.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from ..errors import Conflict, NotFound
from ..staff.errors import Bilingual, BilingualInvalid
from ..staff.roles import in_scope
from ..time_util import parse_when, zone

KINDS: tuple[str, ...] = ("heat", "cold")
KIND_NAMES: dict[str, tuple[str, str]] = {"heat": ("高温", "Heat"), "cold": ("寒潮", "Cold wave")}
#: Amenities a rider needs during an alert of each kind (codes of
#: :data:`locator.stations.vocab.AMENITIES`): cooling and water in heat, heating in cold.
AMENITIES: dict[str, tuple[str, ...]] = {"heat": ("air_conditioning", "drinking_water"),
                                         "cold": ("heating",)}
#: The longest window one alert may have (a longer spell is declared again).
MAX_WINDOW = timedelta(days=31)
MAX_MESSAGE = 300
MAX_MESSAGE_EN = 600
MAX_DISTRICTS = 50
#: The fields of an alert a client may send.
FIELDS: tuple[str, ...] = ("kind", "level", "districts", "starts_at", "ends_at",
                           "message_zh", "message_en")


@dataclass(frozen=True)
class Level:
    """One warning level of a kind: its colour, what it means, and what riders should do."""

    kind: str
    code: str
    rank: int  # 1 = the mildest of its kind
    zh: str
    en: str
    color: str  # the signal's colour, for the banner (text is always dark on it or white)
    threshold_c: float | None  # heat: the maximum temperature; cold: the minimum reached
    criteria_zh: str
    criteria_en: str
    advice_zh: str
    advice_en: str

    def label(self, lang: str = "zh") -> str:
        return self.en if lang.startswith("en") else self.zh

    def advice(self, lang: str = "zh") -> str:
        return self.advice_en if lang.startswith("en") else self.advice_zh


_HEAT_LEVELS = (
    Level("heat", "yellow", 1, "高温黄色预警", "Heat warning, yellow", "#f1c40f", 35.0,
          "连续三天日最高气温将在35℃以上", "a daily maximum of 35 °C or more on three days running",
          "35℃以上：缩短连续户外作业时间，多喝水，就近到驿站歇凉。",
          "35 °C and above: shorter spells outdoors; drink water and cool down at a station."),
    Level("heat", "orange", 2, "高温橙色预警", "Heat warning, orange", "#e67e22", 37.0,
          "24小时内最高气温将升至37℃以上", "37 °C or more within 24 hours",
          "37℃以上：户外作业每天不超过6小时，最热的3小时内停止户外作业。",
          "37 °C and above: at most 6 hours outdoors a day, and none in the 3 hottest hours."),
    Level("heat", "red", 3, "高温红色预警", "Heat warning, red", "#a61e1e", 40.0,
          "24小时内最高气温将升至40℃以上", "40 °C or more within 24 hours",
          "40℃以上：应停止当日户外露天作业，请到有空调的驿站避暑。",
          "40 °C and above: outdoor work stops for the day; shelter at a cooled station."),
)
_COLD_LEVELS = (
    Level("cold", "blue", 1, "寒潮蓝色预警", "Cold-wave warning, blue", "#1864ab", 4.0,
          "48小时内最低气温下降8℃以上，最低气温≤4℃，陆地平均风力5级以上",
          "within 48 hours the minimum falls by 8 °C or more to 4 °C or below, wind force 5+",
          "注意添衣保暖，手套、护膝戴好。",
          "Dress warmly: gloves and knee guards on."),
    Level("cold", "yellow", 2, "寒潮黄色预警", "Cold-wave warning, yellow", "#f1c40f", 4.0,
          "24小时内最低气温下降10℃以上，最低气温≤4℃，陆地平均风力6级以上",
          "within 24 hours the minimum falls by 10 °C or more to 4 °C or below, wind force 6+",
          "注意保暖防风，减少长时间户外停留，就近到驿站取暖。",
          "Keep warm and out of the wind; shorter spells outdoors; warm up at a station."),
    Level("cold", "orange", 3, "寒潮橙色预警", "Cold-wave warning, orange", "#e67e22", 0.0,
          "24小时内最低气温下降12℃以上，最低气温≤0℃，陆地平均风力6级以上",
          "within 24 hours the minimum falls by 12 °C or more to 0 °C or below, wind force 6+",
          "尽量减少户外作业，路面可能结冰，骑行减速，就近到驿站取暖。",
          "Work outdoors as little as possible; roads may ice over, ride slowly; warm up at "
          "a station."),
    Level("cold", "red", 4, "寒潮红色预警", "Cold-wave warning, red", "#a61e1e", 0.0,
          "24小时内最低气温下降16℃以上，最低气温≤0℃，陆地平均风力6级以上",
          "within 24 hours the minimum falls by 16 °C or more to 0 °C or below, wind force 6+",
          "严寒：尽量停止户外作业，到有取暖的驿站等候。",
          "Severe cold: stop outdoor work where you can and wait at a heated station."),
)
#: Levels per kind, mildest first.
LEVELS: dict[str, tuple[Level, ...]] = {"heat": _HEAT_LEVELS, "cold": _COLD_LEVELS}


def level_of(kind: str, code: str) -> Level:
    for lv in LEVELS[kind]:
        if lv.code == code:
            return lv
    raise KeyError(code)


# ------------------------------------------------------------------ errors


class AlertInvalid(BilingualInvalid):
    """Bad alert input (400), naming the field, in Chinese and English."""


class AlertNotFound(Bilingual, NotFound):
    """No alert with that id (404)."""

    def __init__(self, alert_id: Any):
        self.zh = f"没有编号为 {alert_id} 的预警"
        self.en = f"no alert has the id {alert_id}"
        super().__init__(f"{self.zh} / {self.en}")


class AlertConflict(Bilingual, Conflict):
    """A change to an alert that has ended, or made from a stale version (409)."""

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en
        super().__init__(f"{zh} / {en}")


# ------------------------------------------------------------------ the record


@dataclass(frozen=True)
class Alert:
    """A declared heat or cold alert (times aware, UTC)."""

    id: int
    kind: str
    level: str
    districts: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    message_zh: str
    message_en: str | None
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    ended_by: str | None = None
    ended_at: datetime | None = None
    version: int = 1

    @property
    def info(self) -> Level:
        return level_of(self.kind, self.level)

    @property
    def until(self) -> datetime:
        """When the alert stops: its planned end, or when it was ended, if earlier."""
        if self.ended_at is not None and self.ended_at < self.ends_at:
            return self.ended_at
        return self.ends_at

    def is_active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.until

    def state(self, at: datetime) -> str:
        """``scheduled`` (not started), ``active`` or ``ended``."""
        if at < self.starts_at:
            return "scheduled"
        return "active" if at < self.until else "ended"

    def covers(self, adcode: str | None) -> bool:
        """Whether the alert applies to a district (the one a rider is in)."""
        return bool(adcode) and any(in_scope(a, adcode) for a in self.districts)

    def overlaps(self, area: str) -> bool:
        """Whether the alert and an area (a district, a city) share any ground."""
        return any(in_scope(a, area) or in_scope(area, a) for a in self.districts)

    def within(self, scope: str) -> bool:
        """Whether every area of the alert lies inside an account's scope."""
        return all(in_scope(scope, a) for a in self.districts)

    @property
    def amenities(self) -> tuple[str, ...]:
        return AMENITIES[self.kind]

    def message(self, lang: str = "zh") -> str:
        if lang.startswith("en") and self.message_en:
            return self.message_en
        return self.message_zh

    def to_dict(self, lang: str = "zh", *, at: datetime | None = None) -> dict[str, Any]:
        """The public form (API and banner): times in Asia/Shanghai (with offset) and UTC,
        labels in ``lang``, the amenities to filter on."""
        lv = self.info
        tz = zone()
        when = at or datetime.now(timezone.utc)
        return {
            "id": self.id, "kind": self.kind, "kind_label": KIND_NAMES[self.kind][
                1 if lang.startswith("en") else 0],
            "level": self.level, "level_label": lv.label(lang), "level_rank": lv.rank,
            "color": lv.color, "criteria": lv.criteria_en if lang.startswith("en")
            else lv.criteria_zh, "advice": lv.advice(lang),
            "districts": [{"adcode": a, "name": area_name(a, lang)} for a in self.districts],
            "starts_at": self.starts_at.astimezone(tz).isoformat(timespec="minutes"),
            "ends_at": self.until.astimezone(tz).isoformat(timespec="minutes"),
            "starts_at_utc": _z(self.starts_at), "ends_at_utc": _z(self.until),
            "message": self.message(lang), "message_zh": self.message_zh,
            "message_en": self.message_en, "amenities": list(self.amenities),
            "state": self.state(when), "ended_early": self.ended_at is not None
            and self.ended_at < self.ends_at, "version": self.version,
        }


def _z(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def most_severe(alerts: Iterable[Alert]) -> list[Alert]:
    """Alerts ordered most severe first: red heat before orange, then the earliest end."""
    return sorted(alerts, key=lambda a: (-a.info.rank, a.kind, a.until, a.id))


# ------------------------------------------------------------------ areas


@lru_cache(maxsize=1)
def shipped_areas() -> dict[str, tuple[str, str]]:
    """The areas an alert may name: the shipped districts, their city and province."""
    from ..stations.districts import DistrictLookup

    out: dict[str, tuple[str, str]] = {}
    for d in DistrictLookup.shipped().districts:
        out[d.adcode] = (d.name, d.name_en or d.name)
    for code in list(out):
        out.setdefault(code[:4] + "00", ("徐州市", "Xuzhou") if code.startswith("3203")
                       else (code[:4] + "00", code[:4] + "00"))
        out.setdefault(code[:2] + "0000", ("江苏省", "Jiangsu") if code.startswith("32")
                       else (code[:2] + "0000", code[:2] + "0000"))
    return out


def area_name(code: str, lang: str = "zh") -> str:
    pair = shipped_areas().get(code)
    if pair is None:
        return code
    return pair[1] if lang.startswith("en") else pair[0]


# ------------------------------------------------------------------ checks of the fields

_SPLIT = re.compile(r"[\s,，、;；]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(raw: Any, field: str, zh_name: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise AlertInvalid(f"{zh_name}（{field}）必须是文字", f"{field} must be a string",
                           field=field)
    return _CONTROL.sub("", raw).strip()


def parse_kind(raw: Any) -> str:
    k = _text(raw, "kind", "预警类型").lower()
    if k in ("高温", "heat"):
        return "heat"
    if k in ("寒潮", "低温", "cold"):
        return "cold"
    if not k:
        raise AlertInvalid("请选择预警类型（kind）：heat 高温 或 cold 寒潮",
                           "kind is required: heat or cold", field="kind")
    raise AlertInvalid(f"预警类型（kind）{k!r} 无效；可选：heat（高温）、cold（寒潮）",
                       f"kind {k!r} is not valid; use heat or cold", field="kind")


_LEVEL_WORDS = {"黄": "yellow", "黄色": "yellow", "橙": "orange", "橙色": "orange",
                "红": "red", "红色": "red", "蓝": "blue", "蓝色": "blue"}


def parse_level(kind: str, raw: Any) -> str:
    v = _text(raw, "level", "预警等级").lower()
    v = _LEVEL_WORDS.get(v, v)
    codes = [lv.code for lv in LEVELS[kind]]
    if v in codes:
        return v
    zh_opts = "、".join(f"{lv.code}（{lv.zh}）" for lv in LEVELS[kind])
    if not v:
        raise AlertInvalid(f"请选择预警等级（level）：{zh_opts}",
                           f"level is required; for {kind} use one of {', '.join(codes)}",
                           field="level")
    raise AlertInvalid(f"预警等级（level）{v!r} 对{KIND_NAMES[kind][0]}预警无效；可选：{zh_opts}",
                       f"level {v!r} is not valid for a {kind} alert; use one of "
                       f"{', '.join(codes)}", field="level")


def parse_districts(raw: Any, areas: Mapping[str, tuple[str, str]] | None = None
                    ) -> tuple[str, ...]:
    """Adcodes from a list or a string (separated by commas, spaces or 、), each a known
    area (default: :func:`shipped_areas`); sorted, without repeats."""
    known = shipped_areas() if areas is None else areas
    if isinstance(raw, str):
        items = [s for s in _SPLIT.split(raw) if s]
    elif isinstance(raw, (list, tuple)) and all(isinstance(s, str) for s in raw):
        items = [p for s in raw for p in _SPLIT.split(s) if p]
    elif raw is None:
        items = []
    else:
        raise AlertInvalid("区县（districts）应为行政区划代码的列表，如 [\"320303\"]",
                           "districts must be a list of adcodes such as [\"320303\"]",
                           field="districts")
    if not items:
        raise AlertInvalid("请至少选择一个区县（districts），如 320303 云龙区",
                           "districts: choose at least one district, e.g. 320303 (Yunlong)",
                           field="districts")
    if len(items) > MAX_DISTRICTS:
        raise AlertInvalid(f"区县（districts）最多 {MAX_DISTRICTS} 个",
                           f"districts: at most {MAX_DISTRICTS}", field="districts")
    bad = [c for c in items if c not in known]
    if bad:
        opts = sorted(known)
        raise AlertInvalid(
            f"区县（districts）{bad[0][:20]!r} 不是已知的行政区划代码；可选：{'、'.join(opts)}",
            f"districts: {bad[0][:20]!r} is not a known adcode; use one of {', '.join(opts)}",
            field="districts")
    return tuple(sorted(set(items)))


def parse_time(raw: Any, field: str) -> datetime:
    """An aware UTC datetime from ISO 8601 (naive: Asia/Shanghai) or a datetime."""
    zh_name = "开始时间" if field == "starts_at" else "结束时间"
    if isinstance(raw, datetime):
        value: datetime | str = raw
    else:
        value = _text(raw, field, zh_name)
        if not value:
            raise AlertInvalid(f"请填写{zh_name}（{field}），如 2026-07-15T12:00（北京时间）",
                               f"{field} is required, e.g. 2026-07-15T12:00 (Beijing time)",
                               field=field)
    try:
        return parse_when(value, field=field).astimezone(timezone.utc)
    except Exception:
        raise AlertInvalid(
            f"{zh_name}（{field}）{str(raw)[:40]!r} 不是有效时间；应如 2026-07-15T12:00"
            "（北京时间）或 2026-07-15T04:00Z",
            f"{field} {str(raw)[:40]!r} is not a valid time; use e.g. 2026-07-15T12:00 "
            "(Beijing time) or 2026-07-15T04:00Z", field=field) from None


def parse_message(raw: Any, field: str) -> str | None:
    zh_name = "中文提示" if field == "message_zh" else "英文提示"
    text = _text(raw, field, zh_name)
    limit = MAX_MESSAGE if field == "message_zh" else MAX_MESSAGE_EN
    if not text:
        if field == "message_zh":
            raise AlertInvalid("请填写给骑手看的中文提示（message_zh）",
                               "message_zh is required: the message riders read in Chinese",
                               field=field)
        return None
    if len(text) > limit:
        raise AlertInvalid(f"{zh_name}（{field}）最多 {limit} 个字，现为 {len(text)} 个",
                           f"{field} is {len(text)} characters long; at most {limit}",
                           field=field)
    return text


def alert_fields(raw: Mapping[str, Any], *, now: datetime,
                 current: Alert | None = None,
                 areas: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The checked fields of a new alert, or of a change to ``current`` (fields missing
    from ``raw`` keep their values). Raises :class:`AlertInvalid` naming the first bad
    field, in the order of :data:`FIELDS`.

    Rules: the end is after the start, no more than :data:`MAX_WINDOW` later, and in the
    future (an alert that is over is not declared; end one with "end").
    """
    unknown = sorted(str(k) for k in raw if k not in FIELDS)
    if unknown:
        raise AlertInvalid(f"未知字段 {unknown[0][:40]!r}；可用：{'、'.join(FIELDS)}",
                           f"unknown field {unknown[0][:40]!r}; allowed: {', '.join(FIELDS)}",
                           field=unknown[0][:40])

    def pick(name: str, parse: Any) -> Any:
        if current is None or name in raw:
            return parse()
        return getattr(current, name)

    kind = pick("kind", lambda: parse_kind(raw.get("kind")))
    if current is not None and "level" not in raw and kind == current.kind:
        level = current.level
    else:
        level = parse_level(kind, raw.get("level"))
    districts = pick("districts", lambda: parse_districts(raw.get("districts"), areas))
    starts = pick("starts_at", lambda: parse_time(raw.get("starts_at"), "starts_at"))
    ends = pick("ends_at", lambda: parse_time(raw.get("ends_at"), "ends_at"))
    if ends <= starts:
        raise AlertInvalid("结束时间（ends_at）必须晚于开始时间（starts_at）",
                           "ends_at must be later than starts_at", field="ends_at")
    if ends - starts > MAX_WINDOW:
        raise AlertInvalid(f"一次预警最长 {MAX_WINDOW.days} 天（ends_at）；更长的请到期后再发布",
                           f"ends_at: an alert lasts at most {MAX_WINDOW.days} days; declare "
                           "a longer spell again", field="ends_at")
    if ends <= now:
        raise AlertInvalid("结束时间（ends_at）已过；要提前结束预警，请使用“结束预警”",
                           "ends_at is in the past; to stop an alert early, end it",
                           field="ends_at")
    msg_zh = pick("message_zh", lambda: parse_message(raw.get("message_zh"), "message_zh"))
    msg_en = pick("message_en", lambda: parse_message(raw.get("message_en"), "message_en"))
    return {"kind": kind, "level": level, "districts": districts, "starts_at": starts,
            "ends_at": ends, "message_zh": msg_zh, "message_en": msg_en}

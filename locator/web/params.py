"""Strict query-parameter parsing: every parameter is declared, unknown ones are refused,
and every error names the parameter and what is allowed, in Chinese and English.

Errors are :class:`ParamInvalid` (a :class:`~locator.staff.errors.BilingualInvalid`):
the web layer's :func:`~locator.web.errors.localized` answers in the language the
request asks for (``lang=zh|en``) and, when it asks for none, in English, as the query
API always has. Messages of the core's parsers (coordinates, vocabularies, times) are
English only; :func:`zh_message` renders them in Chinese, naming the field as
"纬度 lat".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from ..errors import InvalidInput
from ..staff.errors import BilingualInvalid

MAX_VALUES = 50  # per repeatable parameter
MAX_VALUE_LENGTH = 200

#: Chinese names of the fields the API's messages name (shown as "纬度 lat").
FIELD_ZH: dict[str, str] = {
    "lon": "经度", "lat": "纬度", "crs": "坐标系", "k": "结果数", "type": "站点类型",
    "amenity": "设施", "open_at": "时间", "open_now": "现在营业", "mode": "出行方式",
    "max_distance_m": "最大距离", "include_closed": "包括已关闭", "format": "格式",
    "lang": "语言", "prefer": "排序偏好", "bbox": "范围", "district": "区县",
    "status": "状态", "page": "页码", "per_page": "每页条数", "id": "编号",
    "station_id": "站点编号", "code": "站点代码", "kind": "反馈类型", "note": "备注",
    "point": "地点", "minutes": "分钟数", "body": "请求体", "at": "时间",
    "types": "站点类型", "amenities": "设施", "name": "名称", "address": "地址",
    "phone": "电话", "opening_hours": "营业时间", "access": "开放对象",
    "occupation": "职业类别", "request": "请求", "engine": "计算方式",
    "candidates": "候选点", "n": "数量", "wait": "等待秒数", "district_adcode": "区县代码",
    "capacity": "座位数", "target": "目标覆盖率", "day": "日期", "close": "关闭站点",
    "remove": "移除站点", "add": "新增站点", "change": "修改站点", "compare": "比较情景",
    "change_hours": "修改开放时间", "change_capacity": "修改座位数", "file": "文件",
    "sites": "建议站点", "method": "方法", "backup": "交叉覆盖", "solver": "求解",
}


class ParamInvalid(BilingualInvalid):
    """A bad query parameter (400), in Chinese and English. Without an explicit
    ``lang`` the API answers these in English (``default_lang``)."""

    default_lang = "en"


class SwapSuggested(ParamInvalid):
    """``lon`` and ``lat`` look swapped: ``suggestion`` is the swapped pair, in the
    query's coordinate system."""

    def __init__(self, zh: str, en: str, *, field: str, suggestion: dict[str, float]):
        super().__init__(zh, en, field=field)
        self.suggestion = suggestion


def field_label(name: str, lang: str = "zh") -> str:
    """``"纬度 lat"`` for ``lat`` in Chinese (a prefix such as ``bbox `` or ``point[1].``
    is kept); the bare name in English."""
    if lang != "zh":
        return name
    base = re.split(r"[.\[ ]", name.strip())[-1] if name else name
    zh = FIELD_ZH.get(base) or FIELD_ZH.get(name.split(".")[0].split("[")[0].split(" ")[0])
    return f"{zh} {name}" if zh else name


def _both(field: str, zh: str, en: str) -> ParamInvalid:
    return ParamInvalid(f"{field_label(field)}：{zh}", f"{field}: {en}", field=field)


# English message shapes of the core's parsers (and this module's value parsers), with
# their Chinese. Each pattern matches the text after "field: ".
_ZH_RULES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), zh) for p, zh in [
    (r"^is required$", "必填"),
    (r"^(?P<v>.+?) is not a number; expected decimal degrees, allowed (?P<r>\S+)$",
     "{v} 不是数字；应为十进制度数，允许 {r}"),
    (r"^(?P<v>.+?) is not a number \(WGS-84 degrees\)$", "{v} 不是数字（WGS-84 度）"),
    (r"^(?P<v>.+?) is not a number; allowed (?P<r>.+)$", "{v} 不是数字；允许 {r}"),
    (r"^(?P<v>.+?) is not a number$", "{v} 不是数字"),
    (r"^(?P<v>.+?) is not a finite number; allowed (?P<r>\S+)$", "{v} 不是有限数字；允许 {r}"),
    (r"^(?P<v>.+?) is not a finite number$", "{v} 不是有限数字"),
    (r"^(?P<v>.+?) is out of range; allowed (?P<r>.+)$", "{v} 超出范围；允许 {r}"),
    (r"^(?P<v>.+?) is out of range$", "{v} 超出范围"),
    (r"^(?P<v>.+?) is not an integer; allowed (?P<r>.+)$", "{v} 不是整数；允许 {r}"),
    (r"^(?P<v>.+?) is not an integer in (?P<r>.+)$", "{v} 不是 {r} 之间的整数"),
    (r"^(?P<v>.+?) is not a boolean; allowed: true, false$", "{v} 不是布尔值；允许 true 或 false"),
    (r"^unknown value (?P<v>.+?); allowed: (?P<r>.+)$", "未知取值 {v}；允许：{r}"),
    (r"^(?P<v>.+?) is not allowed; allowed: (?P<r>.+)$", "不允许取值 {v}；允许：{r}"),
    (r"^unknown coordinate system (?P<v>.+?); allowed: (?P<r>[^(]+?)(?: \(aliases: "
     r"(?P<a>.+)\))?$", "未知坐标系 {v}；允许：{r}（别名：{a}）"),
    (r"^(?P<v>.+?) is outside China, where (?P<c>\w+) coordinates exist; allowed "
     r"(?P<r>\S+)$", "{v} 在中国境外，而 {c} 坐标只用于中国境内；允许 {r}"),
    (r"^(?P<v>.+?) is not an ISO 8601 date-time \(e\.g\. (?P<e1>\S+) or (?P<e2>\S+)\)$",
     "{v} 不是 ISO 8601 日期时间（例如 {e1} 或 {e2}）"),
    (r"^(?P<v>.+?) is not an ISO 8601 date-time(?P<rest>.*)$",
     "{v} 不是 ISO 8601 日期时间{rest}"),
    (r"^year (?P<v>-?\d+) is out of range; allowed (?P<r>\S+)$", "年份 {v} 超出范围；允许 {r}"),
    (r"^given (?P<n>\d+) times; give it once$", "给了 {n} 次；只能给一次"),
    (r"^at most (?P<n>\d+) values$", "最多 {n} 个值"),
    (r"^value longer than (?P<n>\d+) characters$", "值超过 {n} 个字符"),
    (r"^(?P<v>.+?) must be min_lon,min_lat,max_lon,max_lat$",
     "{v} 应为 最小经度,最小纬度,最大经度,最大纬度"),
    (r"^(?P<v>.+?) must be four numbers min_lon,min_lat,max_lon,max_lat$",
     "{v} 应为四个数字：最小经度,最小纬度,最大经度,最大纬度"),
    (r"^(?P<v>.+?) must be finite numbers$", "{v} 应为有限数字"),
    (r"^(?P<v>.+?) is not a valid box; need (?P<r>.+)$", "{v} 不是有效范围；需要 {r}"),
    (r"^(?P<v>.+?) is not a number of seats; use a whole number (?P<r>\S+) \(e\.g\. 12 or "
     r"12座\), or leave it empty if not recorded$",
     "{v} 不是座位数；应为 {r} 的整数（如 12 或 12座），未统计请留空"),
    # the target (lscp.parse_target, the planner page's percentage field, the LSCP)
    (r"^(?P<v>.+?) is above 100%; give a share in \(0, 1\] such as 0\.95 or a percentage "
     r"such as '95%' \(at most 100%\)$", "{v} 超过 100%；请给出 (0, 1] 之间的比例（如 0.95）"
     "或百分比（如 95%），最多 100%"),
    (r"^(?P<v>.+?) is not above 0; give a share in \(0, 1\] such as 0\.95 or a percentage "
     r"such as '95%' \(at most 100%\)$", "{v} 不大于 0；请给出 (0, 1] 之间的比例（如 0.95）"
     "或百分比（如 95%）"),
    (r"^(?P<v>.+?) is not a share; give a share in \(0, 1\] such as 0\.95 or a percentage "
     r"such as '95%' \(at most 100%\)$", "{v} 不是比例；请给出 (0, 1] 之间的比例（如 0.95）"
     "或百分比（如 95%）"),
    (r"^(?P<v>.+?) is above 100; give a percentage in \(0, 100\] such as 95$",
     "{v} 超过 100；请填写 0 到 100 之间的百分数（如 95）"),
    (r"^the candidates can bring (?P<w>coverage|backup coverage \(two stations or sites\)) "
     r"to at most (?P<m>\S+) of demand; target (?P<t>\S+) \(with the existing stations "
     r"kept and all (?P<n>[\d,]+) candidate sites open, (?P<u>[\d,]+) demand units holding "
     r"(?P<s>\S+) of demand stay out of reach(?: of two)?(?: within (?P<mm>[\d.]+) min)?\); "
     r"lower the target or add candidates near them$",
     "候选点最多只能把覆盖率提高到需求的 {m}，目标为 {t}（保留现有站点、{n} 个候选点全部建成时，"
     "仍有 {u} 个需求单元、占需求 {s}，在 {mm} 分钟内无法到达）；请降低目标或在其附近增加候选点"),
    (r"^every demand unit is already reached(?P<t> twice)? within (?P<m>\S+) min, "
     r"so there are no uncovered units to place sites at; the target is met$",
     "所有需求单元都已在 {m} 分钟内被覆盖，没有未覆盖单元可放置候选点；目标已达到"),
    # the planner's other views: the day, scenarios
    (r"^(?P<v>.+?) is not a date; give YYYY-MM-DD, e\.g\. (?P<e>\S+)$",
     "{v} 不是日期；请按 YYYY-MM-DD 填写，例如 {e}"),
    (r'^station "(?P<v>.+?)" is not among the stations$', "站点“{v}”不在现有站点中"),
    (r"^is required \(how the scenario is shown\)$", "必填（情景的显示名称）"),
    (r"^is required and must not be empty$", "必填，不能为空"),
    (r'^no saved scenario named "(?P<v>.+?)"; choose one of the saved scenarios$',
     "没有名为“{v}”的已保存情景；请从已保存的情景中选择"),
    (r"^give either open_at or open_now=true, not both$",
     "open_at 与 open_now=true 只能给一个，不能同时给"),
]]
_UNKNOWN_PARAMS = re.compile(r"^unknown parameter\(s\) (?P<v>.+?); allowed: (?P<r>.+)$")


def zh_message(message: str, field: str | None = None) -> str:
    """The Chinese of an English parameter message ``"field: what"`` (the shapes the
    core's and this module's parsers produce), naming the field as "纬度 lat". A message
    of another shape keeps its English text after a Chinese lead, so that it still
    names the field and the value."""
    m = _UNKNOWN_PARAMS.match(message)
    if m:
        return f"未知参数 {m['v']}；允许：{m['r']}"
    name, sep, rest = message.partition(": ")
    if not sep or " " in name.strip() and not name.startswith("bbox "):
        name, rest = field or "", message
    for pattern, zh in _ZH_RULES:
        hit = pattern.match(rest)
        if hit:
            text = zh.format(**{k: (v or "") for k, v in hit.groupdict().items()})
            text = text.replace("（别名：）", "")
            return f"{field_label(name)}：{text}" if name else text
    lead = f"{field_label(name)}：" if name else ""
    return f"{lead}参数无效（{rest}）"


def bilingual(e: InvalidInput) -> BilingualInvalid:
    """``e`` as a bilingual error (itself when it already is one)."""
    if isinstance(e, BilingualInvalid):
        return e
    return ParamInvalid(zh_message(e.message, e.field), e.message, field=e.field)


@dataclass(frozen=True)
class Param:
    name: str
    parse: Callable[[str], Any]
    default: Any = None
    required: bool = False
    repeat: bool = False


def parse_args(args: MultiDict, params: list[Param]) -> dict[str, Any]:
    known = {p.name: p for p in params}
    unknown = [k for k in args if k not in known]
    if unknown:
        names = ", ".join(map(repr, sorted(unknown)))
        raise ParamInvalid(f"未知参数 {names}；允许：{', '.join(known)}",
                           f"unknown parameter(s) {names}; allowed: {', '.join(known)}",
                           field=sorted(unknown)[0])
    out: dict[str, Any] = {}
    for p in params:
        values = args.getlist(p.name)
        if not values:
            if p.required:
                raise _both(p.name, "必填", "is required")
            out[p.name] = [] if p.repeat else p.default
            continue
        if not p.repeat and len(values) > 1:
            raise _both(p.name, f"给了 {len(values)} 次；只能给一次",
                        f"given {len(values)} times; give it once")
        if len(values) > MAX_VALUES:
            raise _both(p.name, f"最多 {MAX_VALUES} 个值", f"at most {MAX_VALUES} values")
        parsed = []
        for v in values:
            if len(v) > MAX_VALUE_LENGTH:
                raise _both(p.name, f"值超过 {MAX_VALUE_LENGTH} 个字符",
                            f"value longer than {MAX_VALUE_LENGTH} characters")
            try:
                parsed.append(p.parse(v))
            except InvalidInput as e:
                raise _named(e, p.name) from None
        out[p.name] = parsed if p.repeat else parsed[0]
    return out


def _named(e: InvalidInput, name: str) -> ParamInvalid:
    """A value parser's error, as a message about parameter ``name``."""
    if isinstance(e, BilingualInvalid):
        zh = e.zh if e.zh.startswith(field_label(name)) else f"{field_label(name)}：{e.zh}"
        en = e.en if e.en.startswith(name) else f"{name}: {e.en}"
        return ParamInvalid(zh, en, field=name)
    en = e.message if e.message.startswith(name) else f"{name}: {e.message}"
    return ParamInvalid(zh_message(en, name), en, field=name)


def number(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    def parse(v: str) -> float:
        try:
            x = float(v)
        except ValueError:
            raise InvalidInput(f"{v!r} is not a number") from None
        if not math.isfinite(x):
            raise InvalidInput(f"{v!r} is not a finite number")
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise InvalidInput(f"{x!r} is out of range; allowed {lo:g}..{hi:g}"
                               if lo is not None and hi is not None else f"{x!r} is out of range")
        return x
    return parse


def integer(lo: int, hi: int) -> Callable[[str], int]:
    def parse(v: str) -> int:
        try:
            x = int(v, 10)
        except ValueError:
            raise InvalidInput(f"{v!r} is not an integer; allowed {lo}..{hi}") from None
        if not lo <= x <= hi:
            raise InvalidInput(f"{x} is out of range; allowed {lo}..{hi}")
        return x
    return parse


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(v: str) -> str:
        if v not in allowed:
            raise InvalidInput(f"unknown value {v!r}; allowed: {', '.join(allowed)}")
        return v
    return parse


def boolean(v: str) -> bool:
    s = v.strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{v!r} is not a boolean; allowed: true, false")


def text(v: str) -> str:
    return v


def bbox(v: str) -> tuple[float, float, float, float]:
    parts = v.split(",")
    if len(parts) != 4:
        raise InvalidInput(f"{v!r} must be min_lon,min_lat,max_lon,max_lat")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(f"{v!r} must be four numbers min_lon,min_lat,max_lon,max_lat") \
            from None
    if not all(math.isfinite(c) for c in (x0, y0, x1, y1)):
        raise InvalidInput(f"{v!r} must be finite numbers")
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InvalidInput(f"{v!r} is not a valid box; need -180<=min_lon<=max_lon<=180 and "
                           "-90<=min_lat<=max_lat<=90")
    return x0, y0, x1, y1


#: China's rough extent for the swap hint (lon 73..136 E, lat 3..54 N).
_CHINA_ROUGH = (73.0, 3.0, 136.0, 54.0)


def _in_china_rough(lon: float, lat: float) -> bool:
    x0, y0, x1, y1 = _CHINA_ROUGH
    return x0 <= lon <= x1 and y0 <= lat <= y1


def _finite(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def swapped_lonlat(lon: Any, lat: Any, *, rejected: bool,
                   far_from_data: Callable[[float, float], bool] | None = None
                   ) -> SwapSuggested | None:
    """The error to raise when ``lon``/``lat`` (raw query values) look swapped, else None.

    A pair counts as swapped only when the swapped point lies in China's rough extent
    (73..136 E, 3..54 N) and the pair as given does not, and either the pair is
    ``rejected`` anyway (|lat| > 90, or GCJ-02/BD-09 outside China), or
    ``far_from_data(lon, lat)`` says the point as given is far from every station while
    the swapped one is not. A point that is valid and near the data is never refused.
    """
    x, y = _finite(lon), _finite(lat)
    if x is None or y is None or not _in_china_rough(y, x) or _in_china_rough(x, y):
        return None
    if not rejected and (far_from_data is None or not far_from_data(x, y)
                         or far_from_data(y, x)):
        return None
    slon, slat = str(lat).strip(), str(lon).strip()
    field = "lat" if abs(y) > 90 else "lon"
    return SwapSuggested(f"经纬度可能填反了：试试 lon={slon}&lat={slat}",
                         f"lon and lat look swapped; try lon={slon}&lat={slat}",
                         field=field, suggestion={"lon": y, "lat": x})

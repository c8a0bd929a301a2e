"""Opening hours in plain language, and the live preview of the staff editing form.

:func:`describe_hours` renders an ``opening_hours`` value accepted by
:mod:`locator.stations.hours` as a short sentence in Simplified Chinese or English::

    Mo-Fr 08:00-20:00; PH off  ->  周一至周五 08:00–20:00，法定节假日不开放
                                   Mon–Fri 08:00–20:00; closed on public holidays

Rules are rendered one by one, left to right, exactly as the evaluator applies them
(a later rule overrides an earlier one for the days it names; a rule added with ``, ``
is rendered with "另" / "also"). The text is built from the parsed rules, so it names
days, months and times in the user's language and never repeats raw OSM tokens such
as ``Mo`` or ``PH``; only a rule's free-text comment is shown as written.

:func:`hours_preview` is what the form shows while the hours are typed: whether the
value is valid, an error message in the page's language that names the wrong part and
gives an example, the sentence, and whether the station is open at a given moment.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ..config import DEFAULT_TIMEZONE
from ..errors import InvalidInput
from ..time_util import parse_when
from .hours import (
    _DAY,
    _LENIENT,
    _MONTHS,
    CLOSED,
    OPEN,
    UNKNOWN,
    _Rule,
    _Time,
    open_status,
    parse_hours,
)

__all__ = ["EXAMPLE_HOURS", "describe_hours", "hours_preview"]

#: The example of valid syntax that error messages offer.
EXAMPLE_HOURS = "Mo-Fr 08:00-20:00; Sa,Su 09:00-17:00; PH off"

_WHOLE_DAY = ((0, _DAY),)
_ZH_DAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_CODES = {code: i for i, code in enumerate(("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"))}
_MONTH_CODES = {code: i + 1 for i, code in enumerate(_MONTHS)}


# --------------------------------------------------------------------------- rendering


def _is_en(lang: str) -> bool:
    if not isinstance(lang, str) or not lang.lower().startswith(("zh", "en")):
        raise InvalidInput(f"Got lang={lang!r}; lang must be 'zh' (Simplified Chinese) or "
                           "'en' (English), optionally with a region such as 'zh-CN'",
                           field="lang")
    return lang.lower().startswith("en")


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_ZH_VARIABLE = {"sunrise": "日出", "sunset": "日落", "dawn": "天亮", "dusk": "天黑"}


def _point(minutes: int, var: str | None, offset: int, en: bool) -> str:
    if var is None:
        return _clock(minutes % _DAY)
    if not offset:
        return var if en else _ZH_VARIABLE[var]
    if en:
        return f"{var} {'+' if offset > 0 else '−'} {_clock(abs(offset))}"
    h, m = divmod(abs(offset), 60)
    amount = (f"{h}小时" if h else "") + (f"{m}分钟" if m else "")
    return f"{_ZH_VARIABLE[var]}{'后' if offset > 0 else '前'}{amount}"


def _time_text(t: _Time, en: bool) -> str:
    start = _point(t.start, t.start_var, t.start_offset, en)
    if t.open_end:
        return f"from {start} (closing time open)" if en else f"{start}起（关门时间不定）"
    if (t.start, t.end) == (0, _DAY) and t.start_var is None:
        return "all day" if en else "全天"
    end = _clock(t.end - _DAY if t.end > _DAY else t.end) if t.end_var is None else \
        _point(t.end, t.end_var, t.end_offset, en)
    if t.end_var is None and t.end > _DAY and t.start_var is None:
        return f"{start}–{end} (next day)" if en else f"{start}–次日 {end}"
    if t.start_var is not None or t.end_var is not None:
        return f"{start} to {end}" if en else f"{start}至{end}"
    return f"{start}–{end}"


_ZH_NTH = {1: "第一个", 2: "第二个", 3: "第三个", 4: "第四个", 5: "第五个", -1: "最后一个",
           -2: "倒数第二个", -3: "倒数第三个", -4: "倒数第四个", -5: "倒数第五个"}
_EN_NTH = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th", -1: "last", -2: "2nd-last",
           -3: "3rd-last", -4: "4th-last", -5: "5th-last"}


def _day_item(item: str, en: bool) -> str:
    if item == "PH":
        return "public holidays" if en else "法定节假日"
    days, _, nth = item.partition("[")
    names = _EN_DAYS if en else _ZH_DAYS
    first, _, last = days.partition("-")
    text = names[_DAY_CODES[first]]
    if last:
        text += ("–" if en else "至") + names[_DAY_CODES[last]]
    if not nth:
        return text
    numbers: list[int] = []
    for part in nth.rstrip("]").split(","):
        lo, sep, hi = part.partition("-") if not part.startswith("-") else (part, "", "")
        numbers += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    if en:
        return f"the {' and '.join(_EN_NTH[n] for n in numbers)} {text} of the month"
    return f"每月{'、'.join(_ZH_NTH[n] for n in numbers)}{text}"


def _month_day(text: str, en: bool) -> str:
    """'2026 Jan 01', 'Dec 25' or 'Dec' as a date."""
    parts = text.split()
    year = parts[0] if parts[0].isdigit() else None
    rest = parts[1:] if year else parts
    month, day = rest[0], (rest[1] if len(rest) > 1 else None)
    if en:
        out = month + (f" {int(day)}" if day else "")
        return out + (f", {year}" if year else "")
    out = (f"{year}年" if year else "") + f"{_MONTH_CODES[month]}月"
    return out + (f"{int(day)}日" if day else "")


def _date_item(item: str, en: bool) -> str:
    first, sep, last = item.partition("-")
    start = _month_day(first, en)
    if not sep:
        return start
    if last.isdigit():  # Dec 24-26
        return f"{start}–{int(last)}" if en else f"{start}至{int(last)}日"
    end = _month_day(last, en)
    if not en and not last.split()[0].isdigit() and first.split()[0].isdigit():
        end = _month_day(f"{first.split()[0]} {last}", en)  # 2026 Dec 24-Dec 26
    return f"{start}–{end}" if en else f"{start}至{end}"


def _month_item(item: str, en: bool) -> str:
    first, _, last = item.partition("-")
    a = _MONTH_CODES[first]
    if en:
        return f"{first}–{last}" if last else first
    if not last:
        return f"{a}月"
    b = _MONTH_CODES[last]
    return f"{a}月至{'次年' if b < a else ''}{b}月"


def _range_item(item: str, en: bool, unit: str) -> str:
    body, _, step = item.partition("/")
    first, _, last = body.partition("-")
    if en:
        text = f"{unit}s {int(first)}–{int(last)}" if last else f"{unit} {int(first)}"
        return text + (f" (every {step})" if step else "")
    zh_unit = "周" if unit == "week" else "年"
    if unit == "week":
        text = f"第{int(first)}–{int(last)}周" if last else f"第{int(first)}周"
    else:
        text = f"{first}–{last}年" if last else f"{first}年"
    return text + (f"（每{step}{'周' if unit == 'week' else '年'}一次）" if step else "") \
        if zh_unit else text


def _selector_text(rule: _Rule, en: bool) -> tuple[str, str]:
    """(wide selectors such as months and dates, days) of a rule; "" when absent."""
    wide: list[str] = []
    days = ""
    joiner = ", " if en else "、"
    for kind, items in rule.items:
        if kind == "years":
            wide.append(joiner.join(_range_item(i, en, "year") for i in items))
        elif kind == "months":
            if rule.months is not None and len(rule.months) < 12:
                wide.append(joiner.join(_month_item(i, en) for i in items))
        elif kind == "dates":
            wide.append(joiner.join(_date_item(i, en) for i in items))
        elif kind == "weeks":
            wide.append(joiner.join(_range_item(i, en, "week") for i in items))
        elif kind == "days":
            if rule.weekdays is not None and len(rule.weekdays) == 7:
                days = "daily" if en else "每天"  # every weekday, so public holidays too
                continue
            names = [_day_item(i, en) for i in items]
            if en and len(names) > 1 and items[-1] == "PH":
                days = f"{', '.join(names[:-1])} and {names[-1]}"
            else:
                days = joiner.join(names)
    return " ".join(wide), days


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _rule_text(rule: _Rule, en: bool) -> str:
    wide, days = _selector_text(rule, en)
    every_day = "daily" if en else "每天"
    whole_day = not rule.times or (len(rule.times) == 1 and rule.times[0] == _Time(0, _DAY))
    times = (", " if en else "、").join(_time_text(t, en) for t in rule.times)
    # An unknown rule with a comment reads like open hours with the note; without one
    # it says that opening is uncertain.
    shown_open = rule.state == OPEN or (rule.state == UNKNOWN and rule.comment)
    if rule.state == UNKNOWN and rule.comment and whole_day:  # "by appointment"
        sel = _join(wide, "" if days == every_day else days)
        if rule.kind == "fallback" and not sel:
            return f"otherwise: {rule.comment}" if en else f"其余时间：{rule.comment}"
        text = f"{sel or 'all day'}: {rule.comment}" if en else f"{sel or '全天'}：{rule.comment}"
        return (("also " if en else "另") if rule.kind == "additional" else "") + text
    if shown_open:
        if whole_day:
            if not wide and days in ("", every_day):
                text = "open 24 hours" if en else "全天 24 小时开放"
            else:
                sel = _join(wide, "" if days == every_day else days)
                text = f"{sel} all day" if en else f"{sel}全天开放"
        else:
            text = _join(wide, days or every_day, times)
    elif rule.state == UNKNOWN:
        sel = _join(wide, days, "" if whole_day else times)
        text = (f"{sel}: opening uncertain" if sel else "opening uncertain") if en else \
            f"{sel}{' ' if sel and not whole_day else ''}开放情况不确定"
    elif whole_day:
        if en:
            on = " every day" if days == every_day else f" on {days}" if days else ""
            on_dates = any(kind == "dates" for kind, _ in rule.items)
            text = "closed" + on + (f" {'on' if on_dates else 'in'} {wide}" if wide else "")
        else:
            text = _join(wide, days) + "不开放"
    elif en:
        text = _join(wide, days or every_day, "closed", times)
    else:
        text = _join(wide, days or every_day, times, "不开放")
    if rule.kind == "additional" and rule.state != CLOSED:
        text = ("also " if en else "另") + text
    elif rule.kind == "fallback":
        text = ("otherwise " if en else "其余时间") + text
    if rule.comment:
        text += f" (note: {rule.comment})" if en else f"（备注：{rule.comment}）"
    return text


def describe_hours(spec: str | None, lang: str = "zh") -> str:
    """The opening hours as a plain-language sentence.

    Parameters
    ----------
    spec
        An ``opening_hours`` value (the subset :func:`~locator.stations.hours.parse_hours`
        accepts); None or blank means the hours are unknown.
    lang
        ``"zh"`` (Simplified Chinese, the default) or ``"en"``; regions such as
        ``"zh-CN"`` are accepted.

    Returns
    -------
    str
        For example ``"周一至周五 08:00–20:00，法定节假日不开放"`` or
        ``"Mon–Fri 08:00–20:00; closed on public holidays"``; ``"开放时间未知"`` /
        ``"hours unknown"`` for None or blank.

    Raises
    ------
    InvalidInput
        The same error as :func:`~locator.stations.hours.validate_hours` for an invalid
        value (``field="opening_hours"``), or for an unsupported ``lang``.
    """
    en = _is_en(lang)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return "hours unknown" if en else "开放时间未知"
    parsed = parse_hours(spec)
    rules = parsed._rules
    if parsed.is_always_open and not any(r.comment for r in rules):
        return "open 24 hours" if en else "全天 24 小时开放"
    return ("; " if en else "，").join(_rule_text(r, en) for r in rules)


# --------------------------------------------------------------------------- errors

# The parser's problem descriptions (see hours.py), each with its Chinese wording.
# Groups captured from the English message are the user's own text and are kept as is.
_ZH_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), zh) for pattern, zh in (
        (r"^unterminated comment", "备注缺少结尾的英文双引号 \""),
        (r"^unexpected character '(.*)'$", "无法识别的字符「{0}」"),
        (r"^variable times", "不支持日出、日落等不固定的时间，请写成固定时刻 HH:MM"),
        (r"^school holidays", "不支持学校假期（SH），节假日只支持 PH（法定节假日）"),
        (r"^the 'unknown' modifier", "不支持 unknown；开放时间未知时请留空"),
        (r"^week-number", "不支持按第几周选择"),
        (r"^easter", "不支持复活节日期"),
        (r"^the nth weekday must be", "每月第几个星期几须为 1–5 或 -1–-5（倒数）"),
        (r"^week numbers must be", "周数须在 01–53 之间"),
        (r"^invalid day of the month '(.*?)'", "日期「{0}」无效：须在 1–31 之间"),
        (r"^repeating times", "不支持重复的时刻（/）"),
        (r"^expected a year", "年份须为四位数字，如 2026"),
        (r"^expected '\)'", "缺少右括号「)」，如 (sunrise+01:00)"),
        (r"^expected (?!a (?:weekday|month) after)", "此处缺少内容，请对照示例检查"),
        (r"^unknown word '(.*)'$", "无法识别「{0}」：星期请写 Mo、Tu、We、Th、Fr、Sa、Su，"
                                   "月份请写 Jan–Dec，法定节假日写 PH"),
        (r"^fallback rules", "不支持备用规则「||」"),
        (r"^open-ended times", "不支持没有结束时间的写法（+），请写明关门时间"),
        (r"^nth-weekday", "不支持“每月第几个星期几”（如 Th[3]）"),
        (r"^'24/7' must be a rule of its own", "「24/7」须单独作为一条规则；跟在星期后面时请改写为 "
                                               "00:00-24:00"),
        (r"^unexpected number '(.*?)'", "无法识别数字「{0}」：不支持具体日期、年份和周数，"
                                        "时间请写成 HH:MM"),
        (r"^a comment without times", "只有备注、没有时间的规则表示“未知”，不支持；"
                                      "请写上时间或 off"),
        (r"^empty rule", "有一条空规则（可能多写了分号或逗号）"),
        (r"^expected a weekday after '-'", "「-」后面缺少星期"),
        (r"^expected a month after '-'", "「-」后面缺少月份"),
        (r"^time '(.*?)' must start a span", "时间「{0}」须写成时间段 HH:MM-HH:MM"),
        (r"^incomplete time span '(.*?)'", "时间段「{0}」不完整：「-」后面缺少结束时间 HH:MM"),
        (r"^invalid time '(.*?)': minutes", "时间「{0}」无效：分钟须在 00–59 之间"),
        (r"^invalid time '(.*?)': a span must start", "时间「{0}」无效：开始时间须在 "
                                                      "00:00–23:59 之间"),
        (r"^invalid time '(.*?)': a span must end", "时间「{0}」无效：结束时间不能晚于 48:00"),
        (r"^time span '(.*?)' lasts more than 24 hours", "时间段「{0}」超过 24 小时"),
        (r"^unexpected '(.*?)'; separate rules", "「{0}」的位置不对：多条规则之间请用分号「;」"
                                                 "分开，星期和月份写在时间前面"),
        (r"^unexpected '(.*?)'", "此处不应出现「{0}」"),
        (r"must be a string", "开放时间须为文本"),
    )
)
_WHERE_RE = re.compile(r" (?:at position (?P<pos>\d+)|at the end): (?P<problem>.*?)\. Supported: ",
                       re.S)


def _fragment(text: str, pos: int) -> str:
    """The token at ``pos`` of the normalised text, up to the next space or ';'."""
    match = re.match(r"[^\s;]+|;", text[pos:])
    return match.group() if match else ""


def hours_error_message(spec: str, error: InvalidInput, lang: str = "zh") -> str:
    """A parser error of ``spec`` explained in ``lang`` (zh or en): what is wrong, where,
    and an example of valid hours (the import's row messages and the form use it)."""
    return _error_message(spec, error, _is_en(lang))


#: Hours written as bare numbers ("8-20"), the most common mistake.
_BARE_HOURS = re.compile(r"(?<![\d:])(\d{1,2})-(\d{1,2})(?![\d:])")


def _error_message(spec: str, error: InvalidInput, en: bool) -> str:
    """The parser's error in the form's language: what is wrong, where, and an example."""
    bare = _BARE_HOURS.search(spec) if isinstance(spec, str) else None
    if bare and int(bare[1]) <= 24 and int(bare[2]) <= 24:
        fix = f"{int(bare[1]):02d}:00-{int(bare[2]):02d}:00"
        if en:
            return (f"Opening hours not understood: times need minutes, e.g. “{fix}” instead "
                    f"of “{bare[0]}”. Example of valid hours: {EXAMPLE_HOURS}.")
        return (f"开放时间格式有误：时间要写出分钟，例如把「{bare[0]}」写成「{fix}」。"
                f"正确写法示例：{EXAMPLE_HOURS}（{describe_hours(EXAMPLE_HOURS, 'zh')}）")
    message = error.message
    normalised = " ".join(spec.translate(_LENIENT).split()) if isinstance(spec, str) else ""
    prefix = f"Invalid opening_hours {normalised!r}"
    where = _WHERE_RE.search(message, len(prefix)) if message.startswith(prefix) else None
    problem = where.group("problem") if where else message
    fragment = ""
    if where and where.group("pos") is not None:
        fragment = _fragment(normalised, int(where.group("pos")))
    if en:
        at = f" (at “{fragment}”)" if fragment else " (at the end)" if where else ""
        return (f"Opening hours not understood: {problem}{at}. Example of valid hours: "
                f"{EXAMPLE_HOURS} ({describe_hours(EXAMPLE_HOURS, 'en')}).")
    zh_problem = next((zh.format(*m.groups()) for pattern, zh in _ZH_PROBLEMS
                       if (m := pattern.search(problem))), "无法识别这段开放时间")
    at = f"（出错位置：「{fragment}」）" if fragment else "（出错位置：末尾）" if where else ""
    return (f"开放时间格式有误：{zh_problem}{at}。正确写法示例：{EXAMPLE_HOURS}"
            f"（{describe_hours(EXAMPLE_HOURS, 'zh')}）")


# --------------------------------------------------------------------------- preview


def hours_preview(spec: str | None, *, at: datetime | str | None = None, lang: str = "zh",
                  tz: str = DEFAULT_TIMEZONE, position: tuple[float, float] | None = None
                  ) -> dict[str, Any]:
    """What the station form shows while opening hours are typed.

    Parameters
    ----------
    spec
        The value as typed; None or blank is valid and means unknown hours.
    at
        The moment for "open now": a datetime or ISO 8601 text (naive means wall-clock
        time in ``tz``); now if None.
    lang
        ``"zh"`` or ``"en"``, for ``error`` and ``text``.
    tz
        The station's IANA timezone.
    position
        The station's (lon, lat), WGS-84, when known: sunrise and sunset are then
        resolved for ``open_now`` (else "unknown" while the rule uses them).

    Returns
    -------
    dict
        ``valid`` (bool); ``error`` (a message in ``lang`` naming the wrong part and
        giving an example, or None); ``text`` (:func:`describe_hours`, None when
        invalid); ``canonical`` (the value as it will be stored, None when blank or
        invalid); ``open_now`` (``"open"``, ``"closed"`` or ``"unknown"``) and
        ``next_change`` (ISO 8601 in ``tz``, or None) at ``at``.

    Raises
    ------
    InvalidInput
        Only for a bad ``at``, ``lang`` or ``tz``; an invalid ``spec`` is reported in
        the result.
    """
    en = _is_en(lang)
    when = parse_when(at, field="at", tz=tz) if at is not None else None
    try:
        text = describe_hours(spec, lang)
    except InvalidInput as exc:
        if exc.field != "opening_hours":
            raise
        return {"valid": False, "error": _error_message(spec or "", exc, en), "text": None,
                "canonical": None, "open_now": "unknown", "next_change": None}
    blank = spec is None or not spec.strip()
    state, change = open_status(spec, when, tz=tz, position=position)
    return {"valid": True, "error": None, "text": text,
            "canonical": None if blank else parse_hours(spec or "").text,
            "open_now": state, "next_change": change.isoformat() if change else None}

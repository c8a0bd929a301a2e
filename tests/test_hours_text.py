"""Opening hours in plain language (zh/en) and the live preview of the station form."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_hours import OPEN_CASES, _render, gen_rule

from locator.errors import InvalidInput
from locator.stations.hours import parse_hours, validate_hours
from locator.stations.hours_text import EXAMPLE_HOURS, describe_hours, hours_preview

SHANGHAI = ZoneInfo("Asia/Shanghai")

DESCRIPTIONS = [
    ("Mo-Fr 08:00-20:00; PH off", "周一至周五 08:00–20:00，法定节假日不开放",
     "Mon–Fri 08:00–20:00; closed on public holidays", "weekdays-ph-off"),
    ("24/7", "全天 24 小时开放", "open 24 hours", "24-7"),
    ("Mo-Su 08:00-22:00", "每天 08:00–22:00", "daily 08:00–22:00", "every-day"),
    ("Mo-Fr 08:30-12:00,14:30-18:00", "周一至周五 08:30–12:00、14:30–18:00",
     "Mon–Fri 08:30–12:00, 14:30–18:00", "lunch-break"),
    ("Sa,Su 09:00-17:00", "周六、周日 09:00–17:00", "Sat, Sun 09:00–17:00", "weekend-list"),
    ("Mo-Su 22:00-06:00", "每天 22:00–次日 06:00", "daily 22:00–06:00 (next day)", "spill"),
    ("Jun-Sep Mo-Su 06:00-20:00", "6月至9月 每天 06:00–20:00", "Jun–Sep daily 06:00–20:00",
     "months"),
    ("Nov-Feb 10:00-12:00", "11月至次年2月 每天 10:00–12:00", "Nov–Feb daily 10:00–12:00",
     "months-wrap-no-days"),
    ("Jan-Feb,Dec Mo-Fr 09:00-17:00", "1月至2月、12月 周一至周五 09:00–17:00",
     "Jan–Feb, Dec Mon–Fri 09:00–17:00", "month-list"),
    ("Mo-Sa 08:00-20:00; Su off", "周一至周六 08:00–20:00，周日不开放",
     "Mon–Sat 08:00–20:00; closed on Sun", "sunday-off"),
    ("Mo-Fr 08:00-12:00, We 14:00-18:00", "周一至周五 08:00–12:00，另周三 14:00–18:00",
     "Mon–Fri 08:00–12:00; also Wed 14:00–18:00", "additional-rule"),
    ("Mo-Fr 08:00-18:00; We 12:00-14:00 off", "周一至周五 08:00–18:00，周三 12:00–14:00 不开放",
     "Mon–Fri 08:00–18:00; Wed closed 12:00–14:00", "off-with-times"),
    ("Mo-Fr 08:00-20:00; PH 10:00-14:00", "周一至周五 08:00–20:00，法定节假日 10:00–14:00",
     "Mon–Fri 08:00–20:00; public holidays 10:00–14:00", "ph-hours"),
    ("Sa,Su,PH closed", "周六、周日、法定节假日不开放", "closed on Sat, Sun and public holidays",
     "days-and-ph-closed"),
    ("Sa,Su,PH 09:00-12:00", "周六、周日、法定节假日 09:00–12:00",
     "Sat, Sun and public holidays 09:00–12:00", "days-and-ph-open"),
    ("Sa-Mo 10:00-12:00", "周六至周一 10:00–12:00", "Sat–Mon 10:00–12:00", "weekday-wrap"),
    ("Mo,We,Fr 10:00-12:00", "周一、周三、周五 10:00–12:00", "Mon, Wed, Fri 10:00–12:00",
     "weekday-list"),
    ("Fr 22:00-02:00", "周五 22:00–次日 02:00", "Fri 22:00–02:00 (next day)", "friday-night"),
    ("Mo-Fr 10:00-26:00", "周一至周五 10:00–次日 02:00", "Mon–Fri 10:00–02:00 (next day)",
     "extended-end"),
    ("Mo-Fr 08:00-24:00", "周一至周五 08:00–24:00", "Mon–Fri 08:00–24:00", "until-midnight"),
    ("Mo-Fr 00:00-24:00", "周一至周五全天开放", "Mon–Fri all day", "whole-days"),
    ("Mo-Fr", "周一至周五全天开放", "Mon–Fri all day", "selector-only"),
    ("Jun-Sep", "6月至9月全天开放", "Jun–Sep all day", "months-only"),
    ("22:00-06:00", "每天 22:00–次日 06:00", "daily 22:00–06:00 (next day)", "times-only"),
    ("off", "不开放", "closed", "off"),
    ("Mo-Su off", "每天不开放", "closed every day", "every-day-off"),
    ("Jun-Sep Su off", "6月至9月 周日不开放", "closed on Sun in Jun–Sep", "months-day-off"),
    ("00:00-24:00; PH off", "全天 24 小时开放，法定节假日不开放",
     "open 24 hours; closed on public holidays", "all-day-but-ph"),
    ("22:00-22:00", "全天 24 小时开放", "open 24 hours", "equal-ends-24h"),
    ("Mo-Su 00:00-24:00", "全天 24 小时开放", "open 24 hours", "always-spelled-out"),
    ("Mo-Fr 08:00-12:00, Sa", "周一至周五 08:00–12:00，另周六全天开放",
     "Mon–Fri 08:00–12:00; also Sat all day", "additional-whole-day"),
    ('08:00-12:00 "需预约"', "每天 08:00–12:00（备注：需预约）",
     "daily 08:00–12:00 (note: 需预约)", "comment"),
    ('24/7 "节假日照常"', "全天：节假日照常", "all day: 节假日照常", "always-with-comment"),
    ("Mo-Fr 08:00-20:00; PH off || \"需预约\"",
     "周一至周五 08:00–20:00，法定节假日不开放，其余时间：需预约",
     "Mon–Fri 08:00–20:00; closed on public holidays; otherwise: 需预约", "fallback-comment"),
    ("sunrise-sunset", "每天 日出至日落", "daily sunrise to sunset", "sun"),
    ("(sunrise+01:00)-(dusk-00:30)", "每天 日出后1小时至天黑前30分钟",
     "daily sunrise + 01:00 to dusk − 00:30", "sun-offsets"),
    ("Mo-Su 08:00-22:00; Dec 25 off", "每天 08:00–22:00，12月25日不开放",
     "daily 08:00–22:00; closed on Dec 25", "christmas-off"),
    ("2026 Jan 01-2026 Jan 03 off", "2026年1月1日至2026年1月3日不开放",
     "closed on Jan 1, 2026–Jan 3, 2026", "date-range-years"),
    ("Dec 24-26 10:00-14:00", "12月24日至26日 每天 10:00–14:00", "Dec 24–26 daily 10:00–14:00",
     "day-range"),
    ("week 01-10 Mo-Fr 08:00-12:00", "第1–10周 周一至周五 08:00–12:00",
     "weeks 1–10 Mon–Fri 08:00–12:00", "weeks"),
    ("Mo[1] 10:00-12:00; Su[-1] off", "每月第一个周一 10:00–12:00，每月最后一个周日不开放",
     "the 1st Mon of the month 10:00–12:00; closed on the last Sun of the month", "nth"),
    ("Mo-Fr 09:00+", "周一至周五 09:00起（关门时间不定）", "Mon–Fri from 09:00 (closing time open)",
     "open-end"),
    ("unknown", "开放情况不确定", "opening uncertain", "unknown"),
    ('Sa "需预约"', "周六：需预约", "Sat: 需预约", "comment-only-rule"),
    ("Mo 12:00-36:00", "周一 12:00–次日 12:00", "Mon 12:00–12:00 (next day)", "over-24h"),
    ("mo-fr 8:00-20:00；ph OFF", "周一至周五 08:00–20:00，法定节假日不开放",
     "Mon–Fri 08:00–20:00; closed on public holidays", "lenient-spelling"),
]


@pytest.mark.parametrize(("spec", "zh", "en"), [c[:3] for c in DESCRIPTIONS],
                         ids=[c[3] for c in DESCRIPTIONS])
def test_describe_hours(spec: str, zh: str, en: str) -> None:
    assert describe_hours(spec) == zh
    assert describe_hours(spec, "zh-CN") == zh
    assert describe_hours(spec, lang="en") == en


@pytest.mark.parametrize("spec", [None, "", "  \t"], ids=["none", "empty", "blank"])
def test_unknown_hours(spec: str | None) -> None:
    assert describe_hours(spec) == "开放时间未知"
    assert describe_hours(spec, "en") == "hours unknown"


_RAW_TOKEN = re.compile(r"[A-Za-z]")
_OSM_WORDS = re.compile(r"\b(Mo|Tu|We|Th|Fr|Sa|Su|PH|off)\b|[A-Za-z0-9]-[A-Za-z0-9]")


def _without_comments(spec: str, text: str) -> str:
    for comment in re.findall(r'"([^"]*)"', spec):
        text = text.replace(comment.strip(), "")
    return text


# Every example the evaluator's tests use, and every canonical spelling they check.
EVALUATOR_EXAMPLES = sorted({case[0] for case in OPEN_CASES} | {
    "Mo-Fr 08:00-12:00,We 14:00-18:00", "Sa,Su,ph CLOSED", "Mo-Fr 08：00–20：00",
    "Mo-Fr 08:00-20:00;", "Mo-Su 00:00-24:00", "00:00-24:00; PH off", "22:00-22:00",
    "Mo-Fr 00:00-24:00"})


@pytest.mark.parametrize("spec", EVALUATOR_EXAMPLES)
def test_every_evaluator_example_is_described(spec: str) -> None:
    zh, en = describe_hours(spec), describe_hours(spec, "en")
    # The Chinese text has no Latin letters at all (so no Mo, PH, off ...) outside comments.
    assert _RAW_TOKEN.search(_without_comments(spec, zh)) is None, zh
    assert _OSM_WORDS.search(_without_comments(spec, en)) is None, en
    # The canonical spelling says the same, and every clock time of the value is shown.
    canonical = validate_hours(spec)
    assert canonical is not None
    assert describe_hours(canonical) == zh and describe_hours(canonical, "en") == en
    if not parse_hours(spec).is_always_open:
        for start, end in re.findall(r"(\d{2}):\d{2}-(\d{2}):\d{2}", canonical):
            if (start, end) == ("00", "24"):
                assert "全天" in zh
                continue
            assert f"{start}:" in zh
            if end not in ("24", "00") and int(end) < 24:
                assert f"{end}:" in zh


@settings(max_examples=200, deadline=None, database=None)
@given(rules=st.lists(gen_rule, min_size=1, max_size=4))
def test_random_rules_are_described_without_osm_tokens(rules: list) -> None:
    spec = _render(rules)
    zh, en = describe_hours(spec), describe_hours(spec, "en")
    assert zh and en
    assert _RAW_TOKEN.search(zh) is None, (spec, zh)
    assert _OSM_WORDS.search(en) is None, (spec, en)
    assert zh.count("，") == en.count("; ") == len(rules) - 1 or parse_hours(spec).is_always_open


@pytest.mark.parametrize("spec", ["Mx 08:00-10:00", "Mo-Fr 25:00-26:00", "08:00-", "SH off",
                                  "Mo-Fr 08:00-20:00 Sa"],
                         ids=["bad-weekday", "hour-25", "open-span", "school-holiday",
                              "days-after-times"])
def test_invalid_hours_raise_what_validate_hours_raises(spec: str) -> None:
    with pytest.raises(InvalidInput) as expected:
        validate_hours(spec)
    for lang in ("zh", "en"):
        with pytest.raises(InvalidInput) as got:
            describe_hours(spec, lang)
        assert type(got.value) is type(expected.value)
        assert str(got.value) == str(expected.value)
        assert got.value.field == "opening_hours"


@pytest.mark.parametrize("lang", ["fr", "", "de-DE"], ids=["fr", "empty", "de"])
def test_unsupported_language_is_refused(lang: str) -> None:
    with pytest.raises(InvalidInput, match=r"lang must be 'zh' \(Simplified Chinese\) or 'en'"):
        describe_hours("24/7", lang)
    with pytest.raises(InvalidInput, match="lang must be"):
        hours_preview("24/7", lang=lang)


# --------------------------------------------------------------------------- preview

WEEK = "Mo-Fr 08:00-20:00; PH off"


@pytest.mark.parametrize(
    ("spec", "at", "open_now", "next_change"),
    [
        (WEEK, "2026-07-01T10:00", "open", "2026-07-01T20:00:00+08:00"),
        (WEEK, "2026-07-01T21:00", "closed", "2026-07-02T08:00:00+08:00"),
        (WEEK, "2026-10-01T10:00", "closed", "2026-10-08T08:00:00+08:00"),
        (WEEK, datetime(2026, 7, 1, 2, 0, tzinfo=timezone.utc), "open",
         "2026-07-01T20:00:00+08:00"),
        ("24/7", "2026-07-01T10:00", "open", None),
        ("Mo-Su 22:00-06:00", "2026-07-01T23:30", "open", "2026-07-02T06:00:00+08:00"),
    ],
    ids=["weekday-open", "weekday-evening", "national-day", "aware-utc", "always", "night"],
)
def test_preview_valid(spec: str, at: datetime | str, open_now: str,
                       next_change: str | None) -> None:
    got = hours_preview(spec, at=at)
    assert got == {"valid": True, "error": None, "text": describe_hours(spec),
                   "canonical": validate_hours(spec), "open_now": open_now,
                   "next_change": next_change}


def test_preview_english_and_canonical() -> None:
    got = hours_preview("mo-fr 8:00-20:00; ph off", at="2026-07-01T10:00", lang="en")
    assert got["text"] == "Mon–Fri 08:00–20:00; closed on public holidays"
    assert got["canonical"] == WEEK


def test_preview_defaults_to_now_in_shanghai() -> None:
    got = hours_preview("Mo-Fr 08:00-20:00")
    assert got["valid"] and got["open_now"] in ("open", "closed")
    change = datetime.fromisoformat(got["next_change"])
    assert change.utcoffset() == SHANGHAI.utcoffset(change.replace(tzinfo=None))
    assert change > datetime.now(SHANGHAI)


def test_preview_in_another_timezone() -> None:
    got = hours_preview("Mo-Fr 08:00-20:00", at="2026-07-01T10:00", tz="Europe/Berlin")
    assert got["next_change"] == "2026-07-01T20:00:00+02:00"


@pytest.mark.parametrize("spec", [None, "", "   "], ids=["none", "empty", "blank"])
def test_preview_unknown(spec: str | None) -> None:
    assert hours_preview(spec, at="2026-07-01T10:00") == {
        "valid": True, "error": None, "text": "开放时间未知", "canonical": None,
        "open_now": "unknown", "next_change": None}


# (spec, part of the Chinese message, the fragment the message points at)
INVALID = [
    ("Mo-Fr 25:00-26:00", "时间「25:00」无效：开始时间须在 00:00–23:59 之间", "25:00-26:00"),
    ("Mx 08:00-10:00", "无法识别「Mx」：星期请写 Mo、Tu、We、Th、Fr、Sa、Su", "Mx"),
    ("08:00-", "时间段「08:00-」不完整", None),
    ("Mo-Fr 08:00-20:00;; Sa off", "有一条空规则", ";"),
    ("Mo,We 24/7", "「24/7」须单独作为一条规则", "24/7"),
    ("08:60-10:00", "时间「08:60」无效：分钟须在 00–59 之间", "08:60-10:00"),
    ("10:00-49:00", "时间「49:00」无效：结束时间不能晚于 48:00", "49:00"),
    ("Mo- 10:00-11:00", "「-」后面缺少星期", "10:00-11:00"),
    ("Jan- 10:00-11:00", "「-」后面缺少月份", "10:00-11:00"),
    ("10:00 Mo", "时间「10:00」须写成时间段 HH:MM-HH:MM", "10:00"),
    ('"open 24 hours', "备注缺少结尾的英文双引号", '"open'),
    ("SH off", "不支持学校假期（SH）", "SH"),
    ("Mo-Fr 08:00-20:00 Sa", "「Sa」的位置不对：多条规则之间请用分号「;」分开", "Sa"),
    ("Mo-Fr 08:00-20:00 & Sa", "无法识别的字符「&」", "&"),
    ("easter off", "不支持复活节日期", "easter"),
    ("Mo-Fr 08:00-20:00 off off", "此处不应出现「off」", "off"),
    ("Mo[6] off", "每月第几个星期几须为 1–5 或 -1–-5", "6]"),
    ("week 54 off", "周数须在 01–53 之间", "54"),
    ("Dec 32 off", "日期「32」无效", "32"),
    ("10:00/30 off", "不支持重复的时刻（/）", "/30"),
]


@pytest.mark.parametrize(("spec", "zh", "fragment"), INVALID, ids=[c[0] for c in INVALID])
def test_preview_explains_invalid_hours(spec: str, zh: str, fragment: str | None) -> None:
    got = hours_preview(spec, at="2026-07-01T10:00")
    assert got["valid"] is False and got["text"] is None and got["canonical"] is None
    assert (got["open_now"], got["next_change"]) == ("unknown", None)
    message = got["error"]
    assert message.startswith("开放时间格式有误：") and zh in message
    where = "（出错位置：末尾）" if fragment is None else f"（出错位置：「{fragment}」）"
    assert where in message
    assert message.endswith(f"正确写法示例：{EXAMPLE_HOURS}（{describe_hours(EXAMPLE_HOURS)}）")
    assert "Supported:" not in message and "position" not in message

    en = hours_preview(spec, at="2026-07-01T10:00", lang="en")["error"]
    assert en.startswith("Opening hours not understood: ")
    assert (" (at the end)" if fragment is None else f" (at “{fragment}”)") in en
    assert en.endswith(f"Example of valid hours: {EXAMPLE_HOURS} "
                       f"({describe_hours(EXAMPLE_HOURS, 'en')}).")


def test_preview_of_a_non_string() -> None:
    got = hours_preview(8, at="2026-07-01T10:00")  # type: ignore[arg-type]
    assert got["valid"] is False
    assert got["error"].startswith("开放时间格式有误：开放时间须为文本。正确写法示例：")


def test_preview_refuses_a_bad_time() -> None:
    with pytest.raises(InvalidInput, match="at: 'noon' is not an ISO 8601 date-time") as info:
        hours_preview(WEEK, at="noon")
    assert info.value.field == "at"


def test_bare_hour_numbers_get_the_fix_suggested():
    """The commonest mistake, "8-20", is answered with the fix, in both languages."""
    from locator.stations.hours_text import hours_preview

    zh = hours_preview("Mo-Fr 8-20", lang="zh")
    assert not zh["valid"] and "「8-20」写成「08:00-20:00」" in zh["error"]
    en = hours_preview("Mo-Fr 8-20", lang="en")
    assert "“08:00-20:00” instead of “8-20”" in en["error"]

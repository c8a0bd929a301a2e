"""Opening hours: parsing, evaluation at concrete times, next changes, errors, properties."""

from __future__ import annotations

import csv
import dataclasses
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locator.errors import InvalidInput
from locator.stations.hours import open_status, parse_hours, public_holidays, validate_hours

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = "Mo-Fr 08:00-20:00; Sa,Su 09:00-17:00; PH off"

# 2026-06-29 is a Monday; 2026-07-01 a Wednesday; 2026-10-01 a Thursday in the
# National Day break (Oct 1-7); 2026-10-15 an ordinary Thursday.
OPEN_CASES = [
    ("24/7", "2026-07-01T03:17", True, "24/7"),
    (WEEK, "2026-07-01T08:00", True, "weekday-opening-minute"),
    (WEEK, "2026-07-01T07:59", False, "weekday-before-opening"),
    (WEEK, "2026-07-01T19:59", True, "weekday-last-minute"),
    (WEEK, "2026-07-01T20:00", False, "weekday-closing-minute"),
    (WEEK, "2026-07-04T09:00", True, "saturday-opening"),
    (WEEK, "2026-07-04T08:30", False, "saturday-before-opening"),
    (WEEK, "2026-07-05T17:00", False, "sunday-closing-minute"),
    (WEEK, "2026-10-01T10:00", False, "ph-off-national-day-thursday"),
    (WEEK, "2026-10-15T10:00", True, "ordinary-thursday"),
    (WEEK, "2026-10-03T10:00", False, "ph-off-beats-weekend-rule"),
    (WEEK, "2027-10-01T10:00", True, "no-holiday-table-for-2027"),
    ("PH off; Mo-Fr 08:00-20:00", "2026-10-01T10:00", True, "weekday-rule-after-ph-wins"),
    ("Mo-Fr 08:00-20:00; PH 10:00-14:00", "2026-10-01T09:00", False, "ph-hours-replace-day"),
    ("Mo-Fr 08:00-20:00; PH 10:00-14:00", "2026-10-01T11:00", True, "ph-hours-open"),
    ("Mo-Su 08:00-22:00", "2026-07-05T21:59", True, "every-day-late"),
    ("Mo-Su 08:00-22:00", "2026-07-05T22:00", False, "every-day-closed"),
    ("Mo-Fr 07:30-11:30,13:30-18:00", "2026-07-01T07:30", True, "split-morning"),
    ("Mo-Fr 07:30-11:30,13:30-18:00", "2026-07-01T12:00", False, "split-lunch-break"),
    ("Mo-Fr 07:30-11:30,13:30-18:00", "2026-07-01T13:30", True, "split-afternoon"),
    ("22:00-06:00", "2026-07-01T23:00", True, "night-before-midnight"),
    ("22:00-06:00", "2026-07-01T00:00", True, "night-midnight"),
    ("22:00-06:00", "2026-07-01T05:59", True, "night-after-midnight"),
    ("22:00-06:00", "2026-07-01T06:00", False, "night-closes"),
    ("22:00-06:00", "2026-07-01T12:00", False, "night-noon"),
    ("Jan-Feb,Dec Mo-Fr 09:00-17:00", "2026-01-07T10:00", True, "months-january"),
    ("Jan-Feb,Dec Mo-Fr 09:00-17:00", "2026-12-02T10:00", True, "months-december"),
    ("Jan-Feb,Dec Mo-Fr 09:00-17:00", "2026-07-01T10:00", False, "months-july"),
    ("Nov-Feb 10:00-12:00", "2026-01-07T11:00", True, "month-range-wraps"),
    ("Mo-Sa 08:00-20:00; Su off", "2026-07-05T12:00", False, "sunday-off"),
    ("Mo-Sa 08:00-20:00; Su off", "2026-07-04T12:00", True, "saturday-open"),
    ("Mo-Fr 08:00-24:00", "2026-07-03T23:59", True, "until-24-00"),
    ("Mo-Fr 08:00-24:00", "2026-07-04T00:00", False, "24-00-is-midnight"),
    ('08:00-12:00 open "comment"', "2026-07-01T10:00", True, "comment-after-open"),
    ('08:00-12:00 "comment"', "2026-07-01T10:00", False, "comment-alone-is-unknown"),
    ("Mo-Fr 10:00-08:00", "2026-06-29T09:00", False, "wrap-monday-early"),
    ("Mo-Fr 10:00-08:00", "2026-06-30T07:59", True, "wrap-tuesday-early"),
    ("Mo-Fr 10:00-08:00", "2026-07-04T07:59", True, "wrap-friday-into-saturday"),
    ("Mo-Fr 10:00-08:00", "2026-07-04T08:00", False, "wrap-saturday-ends"),
    ("Fr 22:00-02:00", "2026-07-03T22:00", True, "spill-friday-night"),
    ("Fr 22:00-02:00", "2026-07-04T01:59", True, "spill-saturday-early"),
    ("Fr 22:00-02:00", "2026-07-04T02:00", False, "spill-ends"),
    ("Fr 22:00-02:00", "2026-07-03T01:00", False, "no-spill-from-thursday"),
    ("Sa-Mo 10:00-12:00", "2026-07-05T11:00", True, "weekday-range-wraps-sunday"),
    ("Sa-Mo 10:00-12:00", "2026-06-29T11:00", True, "weekday-range-wraps-monday"),
    ("Sa-Mo 10:00-12:00", "2026-06-30T11:00", False, "weekday-range-wraps-not-tuesday"),
    ("Mo,We,Fr 10:00-12:00", "2026-06-30T11:00", False, "weekday-list-tuesday"),
    ("Mo-Fr 08:00-18:00; We 10:00-12:00", "2026-07-01T09:00", False, "later-rule-replaces"),
    ("Mo-Fr 08:00-18:00; We 10:00-12:00", "2026-07-01T11:00", True, "later-rule-hours"),
    ("Mo-Fr 08:00-18:00; We 10:00-12:00", "2026-06-30T09:00", True, "other-days-keep"),
    ("Mo-Fr 08:00-12:00, We 14:00-18:00", "2026-07-01T10:00", True, "additional-keeps"),
    ("Mo-Fr 08:00-12:00, We 14:00-18:00", "2026-07-01T15:00", True, "additional-adds"),
    ("Mo-Fr 08:00-12:00, We 14:00-18:00", "2026-07-02T15:00", False, "additional-only-we"),
    ("Mo-Fr 08:00-18:00; We 12:00-14:00 off", "2026-07-01T13:00", False, "off-with-times"),
    ("Mo-Fr 08:00-18:00; We 12:00-14:00 off", "2026-07-01T15:00", True, "off-times-only"),
    ("Mo-Fr 22:00-02:00; Sa 10:00-12:00", "2026-07-04T01:00", False, "rule-replaces-spill"),
    ("22:00-02:00; Tu 12:00-14:00", "2026-07-01T01:00", True, "spill-from-matched-tuesday"),
    ("Mo-Fr 22:00-02:00, Sa 10:00-12:00", "2026-07-04T01:00", True, "additional-keeps-spill"),
    ("Mo-Fr", "2026-07-01T03:00", True, "selector-only-whole-day"),
    ("off", "2026-07-01T12:00", False, "always-closed"),
    ("mo-fr 8:00-20:00", "2026-07-01T08:00", True, "lenient-spelling"),
]


@pytest.mark.parametrize(
    ("text", "when", "expected"),
    [case[:3] for case in OPEN_CASES],
    ids=[case[3] for case in OPEN_CASES],
)
def test_is_open(text: str, when: str, expected: bool) -> None:
    assert parse_hours(text).is_open(datetime.fromisoformat(when)) is expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("mo-fr 8:00-20:00", "Mo-Fr 08:00-20:00"),
        ("  Mo-Fr   08:00-20:00;Sa 09:00-12:00 ", "Mo-Fr 08:00-20:00; Sa 09:00-12:00"),
        ("Mo-Fr 08:00-12:00,We 14:00-18:00", "Mo-Fr 08:00-12:00, We 14:00-18:00"),
        ("jan-feb,dec mo-fr 09:00-17:00", "Jan-Feb,Dec Mo-Fr 09:00-17:00"),
        ("Sa,Su,ph CLOSED", "Sa,Su,PH closed"),
        ("Mo-Fr 08：00–20：00", "Mo-Fr 08:00-20:00"),
        ("Mo-Fr 08:00-20:00;", "Mo-Fr 08:00-20:00"),
        ('08:00-12:00 "comment"', '08:00-12:00 "comment"'),
    ],
    ids=["case-and-hour", "spacing", "additional", "months", "modifier", "full-width",
         "trailing-semicolon", "comment-kept"],
)
def test_canonical_text(text: str, canonical: str) -> None:
    assert parse_hours(text).text == canonical
    assert validate_hours(text) == canonical


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "when", "expected"),
    [
        (WEEK, "2026-07-01T10:00", "2026-07-01T20:00"),
        (WEEK, "2026-07-01T19:59:30", "2026-07-01T20:00"),
        (WEEK, "2026-07-01T20:00", "2026-07-02T08:00"),
        (WEEK, "2026-07-03T21:00", "2026-07-04T09:00"),
        (WEEK, "2026-09-30T21:00", "2026-10-08T08:00"),
        ("22:00-06:00", "2026-07-01T12:00", "2026-07-01T22:00"),
        ("22:00-06:00", "2026-07-01T23:00", "2026-07-02T06:00"),
        ("Mo-Fr 08:00-24:00", "2026-06-29T23:00", "2026-06-30T00:00"),
        ("Mo-Fr 00:00-24:00", "2026-06-29T10:00", "2026-07-04T00:00"),
        ("Fr 22:00-02:00", "2026-07-03T23:00", "2026-07-04T02:00"),
        ("24/7", "2026-07-01T10:00", None),
        ("off", "2026-07-01T10:00", None),
        ("Jan-Feb,Dec Mo-Fr 09:00-17:00", "2026-07-01T10:00", None),
    ],
    ids=["closing", "closing-seconds", "reopening", "weekend-opening", "after-national-day",
         "night-opens", "night-closes-past-midnight", "closes-at-midnight",
         "no-change-at-midnight", "spill-closes", "24-7-none", "never-open-none",
         "beyond-horizon-none"],
)
def test_next_change(text: str, when: str, expected: str | None) -> None:
    got = parse_hours(text).next_change(_at(when))
    assert got == (None if expected is None else _at(expected))
    if got is not None:
        assert got.tzinfo is SHANGHAI


def test_next_change_longer_horizon() -> None:
    hours = parse_hours("Jan-Feb,Dec Mo-Fr 09:00-17:00")
    assert hours.next_change(_at("2026-07-01T10:00"), horizon_days=200) == _at("2026-12-01T09:00")


def test_next_change_rejects_bad_horizon() -> None:
    with pytest.raises(InvalidInput, match="horizon_days=0; it must be a positive integer"):
        parse_hours(WEEK).next_change(_at("2026-07-01T10:00"), horizon_days=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24/7", True), ("Mo-Su 00:00-24:00", True), ("00:00-24:00; PH off", False),
     ("Mo-Fr 08:00-20:00", False), ("22:00-22:00", True)],
    ids=["24-7", "every-day-all-day", "ph-off", "weekdays", "equal-ends-are-24h"],
)
def test_is_always_open(text: str, expected: bool) -> None:
    assert parse_hours(text).is_always_open is expected


def test_open_status_aware_utc_is_converted_to_shanghai() -> None:
    at = datetime(2026, 7, 1, 0, 30, tzinfo=timezone.utc)
    state, change = open_status("Mo-Fr 08:00-20:00", at)
    assert state == "open"  # 08:30 on a Wednesday in Shanghai
    assert change == datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
    assert change.tzinfo == SHANGHAI and change.hour == 20


def test_open_status_naive_is_wall_clock_in_tz() -> None:
    assert open_status("Mo-Fr 08:00-20:00", datetime(2026, 7, 1, 0, 30)) == (
        "closed", _at("2026-07-01T08:00"))
    berlin = ZoneInfo("Europe/Berlin")
    state, change = open_status("Mo-Fr 08:00-20:00", datetime(2026, 7, 1, 8, 30),
                                tz="Europe/Berlin")
    assert (state, change) == ("open", datetime(2026, 7, 1, 20, 0, tzinfo=berlin))


def test_open_status_accepts_parsed_hours_and_now() -> None:
    state, change = open_status(parse_hours("Mo-Fr 08:00-20:00"))
    assert state in ("open", "closed")
    assert change is not None and change.tzinfo == SHANGHAI
    assert open_status("24/7") == ("open", None)


@pytest.mark.parametrize("hours", [None, "", "   "], ids=["none", "empty", "blank"])
def test_open_status_unknown(hours: str | None) -> None:
    assert open_status(hours, datetime(2026, 7, 1, 12, 0)) == ("unknown", None)


def test_open_status_rejects_unknown_timezone() -> None:
    with pytest.raises(InvalidInput, match="Mars/Olympus"):
        open_status("24/7", datetime(2026, 7, 1), tz="Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mo-Fr 25:00-26:00", r"position 6: invalid time '25:00'"),
        ("Mx 08:00-10:00", r"position 0: unknown word 'Mx'"),
        ("08:00-", r"at the end: incomplete time span '08:00-'"),
        ("", r"opening_hours is empty"),
        ("   ", r"opening_hours is empty"),
        ("Mo-Fr 08:00-20:00;; Sa off", r"position 18: empty rule"),
        ("Mo,We 24/7", r"position 6: '24/7' must be a rule of its own"),
        ("08:60-10:00", r"position 0: invalid time '08:60': minutes must be 00-59"),
        ("10:00-49:00", r"position 6: invalid time '49:00': a span must end by 48:00"),
        ("Mo- 10:00-11:00", r"position 4: expected a weekday after '-'"),
        ("10:00 Mo", r"position 0: time '10:00' must start a span"),
        ("\"open 24 hours", r"position 0: unterminated comment"),
        ("SH off", r"position 0: school holidays \(SH\)"),
        ("Mo-Fr 08:00-20:00 Sa", r"position 18: unexpected 'Sa'"),
        ("Mo-Fr 08:00-20:00 & Sa", r"position 18: unexpected character '&'"),
        ("Mo[6] 10:00-12:00", r"position 3: the nth weekday must be 1-5"),
        ("week 54 off", r"position 5: week numbers must be 01-53"),
        ("Dec 32 off", r"position 4: invalid day of the month '32'"),
        ("10:00/30", r"position 5: repeating times \('/'\)"),
        ("(sunrise+01:00-18:00", r"position 14: expected '\)'"),
    ],
    ids=["hour-25", "bad-weekday", "open-span", "empty", "blank",
         "empty-rule", "24-7-after-days",
         "minute-60", "end-after-48h", "dangling-range", "lone-time",
         "unterminated-comment", "school-holiday", "days-after-times",
         "bad-character", "nth-6", "week-54", "day-32", "repeating-times", "unclosed-offset"],
)
def test_malformed_hours_are_rejected(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        parse_hours(text)
    assert info.value.field == "opening_hours"
    if text.strip():
        assert "Supported: '24/7'" in str(info.value)


def test_parse_hours_rejects_non_string() -> None:
    with pytest.raises(InvalidInput, match="must be a string such as 'Mo-Fr 08:00-20:00', got int"):
        parse_hours(8)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [None, "", " \t"], ids=["none", "empty", "blank"])
def test_validate_hours_blank_is_none(text: str | None) -> None:
    assert validate_hours(text) is None


def test_validate_hours_raises_for_malformed() -> None:
    with pytest.raises(InvalidInput, match="unknown word 'Mx'"):
        validate_hours("Mx 08:00-10:00")


def test_parsed_hours_are_cached_and_immutable() -> None:
    first = parse_hours("Mo-Fr 08:00-20:00")
    assert parse_hours("  Mo-Fr  08:00-20:00 ") is first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.text = "24/7"  # type: ignore[misc]


def test_holiday_table_matches_the_state_council_notices() -> None:
    holidays = public_holidays()
    per_year = {year: sum(d.year == year for d in holidays) for year in (2024, 2025, 2026)}
    assert per_year == {2024: 30, 2025: 28, 2026: 33}
    assert {date(2026, 10, 1), date(2026, 2, 15), date(2026, 2, 23), date(2025, 1, 28),
            date(2024, 6, 8), date(2025, 10, 8)} <= holidays
    assert date(2026, 10, 8) not in holidays and date(2026, 2, 14) not in holidays
    assert all(2024 <= d.year <= 2026 for d in holidays)
    assert holidays == CSV_HOLIDAYS


# --------------------------------------------------------------------------- properties
# Random rule lists are rendered to text and checked against a brute-force evaluator that
# works point by point on the generated rules, with the holiday dates read from the CSV.

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
with (Path(__file__).resolve().parent.parent / "geodata" / "cn_public_holidays.csv").open(
        encoding="utf-8", newline="") as _fh:
    CSV_HOLIDAYS = frozenset(date.fromisoformat(row["date"]) for row in csv.DictReader(_fh))


class GenRule(NamedTuple):
    months: tuple[tuple[int, int], ...]  # month ranges, 1-based; () = every month
    days: tuple[tuple[int, int], ...]  # weekday ranges, 0 = Monday; () = every day
    ph: bool
    spans: tuple[tuple[int, int], ...]  # (start, end) minutes; () = whole day
    off: bool
    additional: bool

    @property
    def has_selector(self) -> bool:
        return bool(self.months or self.days or self.ph)

    def render(self) -> str:
        parts = []
        if self.months:
            parts.append(",".join(MONTHS[a - 1] if a == b else f"{MONTHS[a - 1]}-{MONTHS[b - 1]}"
                                  for a, b in self.months))
        days = [DAYS[a] if a == b else f"{DAYS[a]}-{DAYS[b]}" for a, b in self.days]
        if days or self.ph:
            parts.append(",".join(days + ["PH"] * self.ph))
        if self.spans:
            parts.append(",".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}"
                                  for s, e in self.spans))
        if self.off or not parts:
            parts.append("off" if self.off else "open")
        return " ".join(parts)


def _in_ranges(value: int, ranges: tuple[tuple[int, int], ...], size: int) -> bool:
    """Whether value lies in one of the ranges, each wrapping around ``size``."""
    return any((value - a) % size <= (b - a) % size for a, b in ranges)


def _rule_matches(rule: GenRule, day: date) -> bool:
    if rule.months and not _in_ranges(day.month, rule.months, 12):
        return False
    if not rule.days and not rule.ph:
        return True
    return bool(rule.days and _in_ranges(day.weekday(), rule.days, 7)) or (
        rule.ph and day in CSV_HOLIDAYS)


def brute_is_open(rules: list[GenRule], when: datetime) -> bool:
    """Open/closed at ``when`` by replaying the rules for that day and the day before."""
    day, minute = when.date(), when.hour * 60 + when.minute
    state = False
    for i, rule in enumerate(rules):
        spans = [(s, e if e > s else e + 1440) for s, e in rule.spans or ((0, 1440),)]
        if _rule_matches(rule, day):
            inside = any(s <= minute < min(e, 1440) for s, e in spans)
            if rule.off:
                state = False if (inside or not rule.spans) else state
            elif rule.additional and i > 0:
                state = state or inside
            elif rule.has_selector or (i > 0 and not rules[i - 1].has_selector):
                state = inside  # replaces the day (opening_hours.js's rule)
            else:
                state = state or inside  # a rule without selectors after one with them adds
        if _rule_matches(rule, day - timedelta(days=1)) and any(
                minute < e - 1440 for _, e in spans):
            state = not rule.off
    return state


def _ranges(lo: int, hi: int) -> st.SearchStrategy[tuple[tuple[int, int], ...]]:
    return st.lists(st.tuples(st.integers(lo, hi), st.integers(lo, hi)), max_size=2).map(tuple)


_quarter = st.integers(0, 95).map(lambda q: q * 15)
_span = st.tuples(_quarter, st.integers(1, 96).map(lambda q: q * 15))
gen_rule = st.builds(
    GenRule, months=st.one_of(st.just(()), _ranges(1, 12)), days=_ranges(0, 6),
    ph=st.booleans(), spans=st.lists(_span, max_size=2).map(tuple), off=st.booleans(),
    additional=st.booleans(),
)
gen_when = st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31, 23, 59))


def _render(rules: list[GenRule]) -> str:
    """Join the rules; before ', ' end the previous rule with a modifier ('open' changes
    nothing), or a following time or day would continue its list instead."""
    text = rules[0].render()
    for rule in rules[1:]:
        if rule.additional and not text.endswith(("off", "open")):
            text += " open"
        text += (", " if rule.additional else "; ") + rule.render()
    return text


@settings(max_examples=300, deadline=None, database=None)
@given(rules=st.lists(gen_rule, min_size=1, max_size=4), when=gen_when)
def test_is_open_agrees_with_brute_force(rules: list[GenRule], when: datetime) -> None:
    hours = parse_hours(_render(rules))
    assert hours.is_open(when) is brute_is_open(rules, when)
    assert hours.is_open(when.replace(tzinfo=SHANGHAI)) is brute_is_open(rules, when)


@settings(max_examples=150, deadline=None, database=None)
@given(rules=st.lists(gen_rule, min_size=1, max_size=3), when=gen_when)
def test_next_change_is_the_first_flip(rules: list[GenRule], when: datetime) -> None:
    hours = parse_hours(_render(rules))
    change = hours.next_change(when, horizon_days=3)
    state = brute_is_open(rules, when)
    end = change if change is not None else when + timedelta(days=3)
    # Every span starts and ends on a quarter hour, so checking quarter hours is exhaustive.
    probe = when.replace(second=0, microsecond=0) + timedelta(minutes=15 - when.minute % 15)
    while probe < end:
        assert brute_is_open(rules, probe) is state, probe
        probe += timedelta(minutes=15)
    if change is not None:
        assert when < change <= when + timedelta(days=3)
        assert change.minute % 15 == 0 and change.second == 0
        assert brute_is_open(rules, change) is not state
        assert hours.is_open(change - timedelta(minutes=1)) is state


def test_open_status_same_instant_in_two_zones_is_not_a_cached_answer() -> None:
    # 10:00 in Shanghai is 02:00 UTC: open there, closed in UTC. Aware datetimes of one
    # instant compare equal, so a cache keyed by the instant alone answered "open" twice.
    instant = datetime(2026, 7, 1, 10, 0, tzinfo=SHANGHAI)
    hours = parse_hours("Mo-Fr 08:00-20:00")
    assert open_status(hours, instant, tz="Asia/Shanghai")[0] == "open"
    state, change = open_status(hours, instant, tz="UTC")
    assert state == "closed"
    assert change == datetime(2026, 7, 1, 8, 0, tzinfo=ZoneInfo("UTC"))
    assert open_status(hours, instant.astimezone(timezone.utc), tz="Asia/Shanghai")[0] == "open"


XUZHOU = (117.19, 34.26)


@pytest.mark.parametrize(
    ("text", "when", "expected"),
    [
        ("sunrise-sunset", "2026-06-01T05:10", "open"),  # sunrise 05:00 in June
        ("sunrise-sunset", "2026-12-25T07:10", "closed"),  # sunrise 07:15 in December
        ("sunrise-sunset", "2026-12-25T17:30", "closed"),  # sunset 17:07
        ("dawn-dusk", "2026-06-01T19:40", "open"),  # dusk 19:46
        ("Mo-Fr 09:00+", "2026-06-01T12:00", "unknown"),
        ("Mo-Fr 09:00+", "2026-06-01T08:00", "closed"),
        ("Mo-Fr 08:00-12:00 || \"by appointment\"", "2026-06-01T13:00", "unknown"),
        ("Mo-Fr 08:00-12:00 || \"by appointment\"", "2026-06-01T10:00", "open"),
        ("Mo-Su 08:00-20:00; Dec 25 off", "2026-12-25T10:00", "closed"),
        ("Mo-Su 08:00-20:00; 2026 Jan 01-2026 Jan 03 off", "2026-01-03T10:00", "closed"),
        ("Mo-Su 08:00-20:00; 2026 Jan 01-2026 Jan 03 off", "2027-01-03T10:00", "open"),
        ("week 01-10 Mo 08:00-12:00", "2026-03-02T10:00", "open"),  # ISO week 10
        ("week 01-10 Mo 08:00-12:00", "2026-03-09T10:00", "closed"),  # week 11
        ("Mo[1] 10:00-12:00", "2026-06-01T11:00", "open"),
        ("Mo[1] 10:00-12:00", "2026-06-08T11:00", "closed"),
        ("Su[-1] 10:00-12:00", "2026-05-31T11:00", "open"),
        ("unknown", "2026-06-01T11:00", "unknown"),
        ('Mo-Fr "by appointment"', "2026-06-01T11:00", "unknown"),
        ("Mo 12:00-36:00", "2026-06-02T11:00", "open"),
    ],
)
def test_fuller_syntax_states(text: str, when: str, expected: str) -> None:
    assert parse_hours(text).state(datetime.fromisoformat(when), position=XUZHOU) == expected


def test_sun_times_without_a_position_are_unknown() -> None:
    hours = parse_hours("Mo-Fr 08:00-12:00; Sa sunrise-sunset")
    assert hours.uses_position
    saturday_noon = datetime(2026, 6, 6, 12, 0)
    assert open_status(hours, saturday_noon)[0] == "unknown"
    assert open_status(hours, saturday_noon, position=XUZHOU)[0] == "open"
    assert open_status(hours, datetime(2026, 6, 5, 10, 0))[0] == "open"  # a Friday: fixed
    with pytest.raises(InvalidInput, match="position"):
        open_status(hours, saturday_noon, position=(200.0, 34.0))

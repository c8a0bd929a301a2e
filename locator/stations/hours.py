"""Opening hours in OpenStreetMap ``opening_hours`` syntax: parse, validate, evaluate.

Supported syntax (https://wiki.openstreetmap.org/wiki/Key:opening_hours/specification):

- ``24/7``, alone as a rule's selector (a modifier or comment may follow).
- Years ``2026``, ``2025-2027``; dates ``Dec 25``, ``Dec 24-26``, ``Dec 24-Jan 02``,
  ``2026 Jan 01-2026 Jan 03``; months ``Jan``..``Dec`` (ranges such as ``Nov-Feb`` wrap,
  lists); ISO week numbers ``week 01-10``, ``week 02-52/2``; all before the weekdays.
- Weekdays ``Mo``..``Su``: single, ranges (``Sa-Mo`` wraps), lists, the nth weekday of the
  month (``Mo[1]``, ``Su[-1]``, ``We[1,3]``, ``Th[2-3]``), plus ``PH``.
- Time spans ``HH:MM-HH:MM`` separated by ``,``. ``24:00`` ends a day; a span whose end is
  not after its start runs past midnight (equal ends mean 24 hours); ends up to ``48:00``.
  Variable times ``sunrise``, ``sunset``, ``dawn``, ``dusk`` (civil twilight), also with an
  offset: ``(sunrise+01:00)``. Open ends: ``09:00+`` and ``10:00-18:00+`` (the time after
  the ``+`` is "unknown", as in opening_hours.js: until 24:00 for a start before 17:00,
  else 10 hours, or 8 hours from 22:00). A rule with selectors but no times: whole day.
- Modifiers ``open``, ``off``/``closed`` and ``unknown``; a ``"comment"`` ends a rule. A
  comment without a modifier makes the rule "unknown" (``Mo-Fr "by appointment"``,
  ``"call ahead"``), as in the OSM reference implementation.
- Rule separators ``; `` (normal), ``, `` (additional) and `` || `` (fallback: applies
  only where the rules before it leave the station closed).
- Rejected with :class:`~locator.errors.InvalidInput`: ``SH``, ``easter``, points in time
  and repeating times (``10:00/30``).
- Lenient input: case is ignored, hours may have one digit, full-width ``：；，`` and
  ``–``/``~`` are read as ``:;,-``. :attr:`OpeningHours.text` is the canonical spelling.

Semantics, per calendar day D, follow opening_hours.js: rules are applied left to right.
A normal rule that is open or unknown and has a date selector (or follows a rule that has
none) replaces D's hours, including hours spilling into D from the day before; any other
rule paints its state over its times (``off`` without times closes the whole day). Right
after each rule, its past-midnight part is applied to the day after the day it matched.

States are "open", "closed" and "unknown" (open end, ``unknown``, comment-only rules,
variable times without a position). Sunrise and the like are computed for the station's
position (``position=(lon, lat)``, WGS-84) and date; without a position they are unknown.

Public holidays: ``PH`` matches the dates in ``geodata/cn_public_holidays.csv``, the
mainland China statutory days off (法定节假日放假日期) for 2024-2026, as announced by the
General Office of the State Council (国务院办公厅关于部分节假日安排的通知, one notice per
year). Each holiday's whole announced break is listed, weekends joined to it included.
Make-up working days (调休上班) are not modelled: such a Sunday is still a Sunday.
Years not in the table have no PH dates, so ``PH`` rules never match there.
"""

from __future__ import annotations

import csv
import functools
import math
import re
import time as _time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple, NoReturn

from .. import time_util
from .._paths import geodata_path
from ..config import DEFAULT_TIMEZONE
from ..errors import InvalidInput

__all__ = ["OpeningHours", "open_status", "parse_hours", "public_holidays", "state_now",
           "validate_hours"]

_DAY = 24 * 60
_ONE_DAY = timedelta(days=1)
_WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_VARIABLE = ("sunrise", "sunset", "dawn", "dusk")
_WEEKDAY_INDEX = {name.lower(): i for i, name in enumerate(_WEEKDAYS)}
_MONTH_INDEX = {name.lower(): i + 1 for i, name in enumerate(_MONTHS)}
_WORD_KINDS = {**dict.fromkeys(_WEEKDAY_INDEX, "weekday"), **dict.fromkeys(_MONTH_INDEX, "month"),
               **dict.fromkeys(("off", "closed", "open", "unknown"), "modifier"), "ph": "ph",
               **dict.fromkeys(_VARIABLE, "variable"), "week": "week"}
_LENIENT = str.maketrans({"：": ":", "；": ";", "，": ",", "–": "-", "—": "-", "～": "-", "~": "-"})
_SUPPORTED = (
    "Supported: '24/7'; years, dates (Dec 25), months Jan-Dec and 'week 01-10'; weekdays "
    "Mo-Su (ranges, lists, Mo[1], Su[-1]) and PH; time spans HH:MM-HH:MM separated by ',' "
    "(up to 48:00, sunrise/sunset/dawn/dusk, open ends '+'); 'off', 'closed', 'open', "
    "'unknown', \"comments\"; rules separated by '; ', ', ' or ' || '"
)
_UNSUPPORTED_WORDS = {
    "sh": "school holidays (SH) are not supported; only PH is",
    "easter": "easter dates are not supported",
}
_TOKEN_RE = re.compile(r'\s+|(?P<comment>"[^"]*")|(?P<always>24/7)|(?P<time>\d{1,2}:\d{2})'
                       r'|(?P<word>[A-Za-z]+)|(?P<number>\d+)|(?P<sym>\|\||[;,\-+\[\]():/"])')

CLOSED, OPEN, UNKNOWN = 0, 1, 2
_STATE_NAMES = ("closed", "open", "unknown")
_MODIFIER_STATES = {"open": OPEN, "off": CLOSED, "closed": CLOSED, "unknown": UNKNOWN}

_Span = tuple[int, int]
_WHOLE_DAY: tuple[_Span, ...] = ((0, _DAY),)


class _Token(NamedTuple):
    kind: str  # weekday, month, ph, modifier, variable, week, word, comment, time, number, sym
    value: str
    pos: int


class _Time(NamedTuple):
    """One time span; ``start``/``end`` are minutes (defaults for variable times)."""

    start: int
    end: int  # > start, at most 2 days; for an open end the guessed end
    start_var: str | None = None  # sunrise, sunset, dawn or dusk
    start_offset: int = 0
    end_var: str | None = None
    end_offset: int = 0
    open_end: bool = False  # the whole span is "unknown" (09:00+, or the tail of 10:00-18:00+)


class _Rule(NamedTuple):
    years: tuple[tuple[int, int, int], ...] | None  # (first, last, step)
    dates: tuple[tuple[int | None, int, int, int | None, int, int], ...] | None
    months: frozenset[int] | None  # 1-12 when the wide selector is months only; None: every
    weeks: tuple[tuple[int, int, int], ...] | None  # ISO weeks (first, last, step)
    weekdays: frozenset[int] | None  # 0-6 (Monday 0); None with ph=False, no nth: every day
    nth: tuple[tuple[int, frozenset[int]], ...]  # (weekday, {1..5, -1..-5})
    ph: bool
    times: tuple[_Time, ...]  # () = whole day
    state: int  # OPEN, CLOSED or UNKNOWN
    kind: str  # "normal", "additional" or "fallback"
    comment: str | None
    items: tuple[tuple[str, tuple[str, ...]], ...]  # selector groups as written (canonical)

    @property
    def is_open(self) -> bool:
        return self.state == OPEN

    @property
    def additional(self) -> bool:
        return self.kind == "additional"

    @property
    def has_date(self) -> bool:
        return bool(self.years or self.dates or self.months is not None or self.weeks
                    or self.weekdays is not None or self.nth or self.ph)

    @property
    def spans(self) -> tuple[_Span, ...]:
        """Fixed (start, end) minutes of the times (defaults for variable times)."""
        return tuple((t.start, t.end) for t in self.times)


# --------------------------------------------------------------------------- parsing


class _Parser:
    """Recursive-descent parser over the tokens of one whitespace-normalised value."""

    def __init__(self, text: str):
        self.text, self.i, self.tokens = text, 0, []
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None or m.group() == '"':
                self._fail("unterminated comment (missing closing '\"')" if m else
                           f"unexpected character {text[pos]!r}", _Token("", "", pos))
            kind, value = m.lastgroup, m.group()
            if kind == "word":
                kind = _WORD_KINDS.get(value.lower(), "word")
            if kind is not None:
                self.tokens.append(_Token(value if kind in ("sym", "always") else kind, value, pos))
            pos = m.end()

    def _fail(self, problem: str, tok: _Token | None) -> NoReturn:
        where = f"at position {tok.pos}" if tok is not None else "at the end"
        raise InvalidInput(f"Invalid opening_hours {self.text!r} {where}: {problem}. "
                           f"{_SUPPORTED}.", field="opening_hours")

    def _peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _kind(self, ahead: int = 0) -> str | None:
        j = self.i + ahead
        return self.tokens[j].kind if j < len(self.tokens) else None

    def _take(self) -> _Token:
        self.i += 1
        return self.tokens[self.i - 1]

    def _expect(self, kind: str, what: str) -> _Token:
        if self._kind() != kind:
            self._fail(f"expected {what}", self._peek())
        return self._take()

    def _unexpected(self, tok: _Token) -> NoReturn:
        if tok.kind == "word":
            word = tok.value.lower()
            self._fail(_UNSUPPORTED_WORDS.get(word, f"unknown word {tok.value!r}"), tok)
        problems = {
            "24/7": "'24/7' must be a rule of its own; use 00:00-24:00 after day selectors",
            "number": f"unexpected number {tok.value!r} (dates are written 'Dec 25', years "
            "'2026', weeks 'week 01-10'; times are HH:MM)",
            "/": "repeating times ('/') are not supported",
        }
        hint = ("; separate rules with '; ' and put day selectors before times"
                if tok.kind in ("weekday", "month", "ph", "time", "week") else "")
        self._fail(problems.get(tok.kind, f"unexpected {tok.value!r}{hint}"), tok)

    def parse(self) -> tuple[str, tuple[_Rule, ...]]:
        if not self.tokens:
            raise InvalidInput("opening_hours is empty; expected e.g. '24/7' or 'Mo-Fr "
                               "08:00-20:00', or no value at all when the hours are unknown",
                               field="opening_hours")
        rules, text, kind = [], "", "normal"
        while True:
            rule, rule_text = self._rule(kind)
            rules.append(rule)
            text += rule_text
            sep = self._peek()
            if sep is None or (sep.kind == ";" and self.i + 1 == len(self.tokens)):
                return text, tuple(rules)  # a trailing ';' is harmless
            if sep.kind not in (";", ",", "||"):
                self._unexpected(sep)
            self.i += 1
            kind = {";": "normal", ",": "additional", "||": "fallback"}[sep.kind]
            text += " || " if sep.kind == "||" else f"{sep.kind} "

    def _rule(self, kind: str) -> tuple[_Rule, str]:
        start = self._peek()
        sel: dict[str, object] = {"years": None, "dates": None, "months": None, "weeks": None,
                                  "weekdays": None, "nth": (), "ph": False}
        times: tuple[_Time, ...] = ()
        parts: list[str] = []
        items: list[tuple[str, tuple[str, ...]]] = []
        if self._kind() == "24/7":
            self.i += 1
            times, parts = (_Time(0, _DAY),), ["24/7"]
        else:
            if self._kind() == "number" and len(self._peek().value) == 4:  # type: ignore[union-attr]
                self._years(sel, parts, items)
            if self._kind() == "month":
                self._monthdays(sel, parts, items, year=None)
            if self._kind() == "week":
                self._weeks(sel, parts, items)
            if self._kind() == ":" and parts:
                self.i += 1  # the optional ':' after wide selectors
            if self._kind() in ("weekday", "ph"):
                self._weekdays(sel, parts, items)
            if self._kind() in ("time", "variable", "("):
                times, text = self._times()
                parts.append(text)
        state, has_modifier = OPEN, False
        if self._kind() == "modifier":
            word = self._take().value.lower()
            state, has_modifier = _MODIFIER_STATES[word], True
            parts.append(word)
        comment = None
        if self._kind() == "comment":
            tok = self._take()
            comment = tok.value[1:-1].strip() or None
            if not has_modifier:
                state = UNKNOWN
            parts.append(tok.value)
        if not parts:
            if start is None or start.kind in (";", ",", "||"):
                self._fail("empty rule", start)
            self._unexpected(start)
        rule = _Rule(sel["years"], sel["dates"], sel["months"], sel["weeks"],  # type: ignore[arg-type]
                     sel["weekdays"], sel["nth"], sel["ph"], times, state, kind,  # type: ignore[arg-type]
                     comment, tuple(items))
        return rule, " ".join(parts)

    # wide selectors -------------------------------------------------------

    def _year(self) -> int:
        tok = self._take()
        if tok.kind != "number" or len(tok.value) != 4 or not 1900 <= int(tok.value) <= 2200:
            self._fail(f"expected a year (1900-2200), got {tok.value!r}", tok)
        return int(tok.value)

    def _years(self, sel: dict[str, object], parts: list[str], items: list) -> None:
        years: list[tuple[int, int, int]] = []
        texts: list[str] = []
        while True:
            first = self._year()
            if self._kind() == "month":  # a date with a year: 2026 Jan 01-2026 Jan 03
                self._monthdays(sel, parts, items, year=first)
                return
            last, step = first, 1
            if self._kind() == "-":
                self.i += 1
                last = self._year()
                if last < first:
                    self._fail(f"year range {first}-{last} runs backwards", self.tokens[self.i - 1])
            if self._kind() == "/":
                self.i += 1
                step = int(self._expect("number", "a step after '/'").value) or 1
            texts.append(f"{first}" + (f"-{last}" if last != first else "")
                         + (f"/{step}" if step != 1 else ""))
            years.append((first, last, step))
            if self._kind() != "," or self._kind(1) != "number" or \
                    len(self.tokens[self.i + 1].value) != 4:
                break
            self.i += 1
        sel["years"] = tuple(years)
        parts.append(",".join(texts))
        items.append(("years", tuple(texts)))

    def _day_of_month(self) -> int:
        tok = self._expect("number", "a day of the month")
        if not 1 <= int(tok.value) <= 31:
            self._fail(f"invalid day of the month {tok.value!r}", tok)
        return int(tok.value)

    def _monthdays(self, sel: dict[str, object], parts: list[str], items: list,
                   year: int | None) -> None:
        dates: list[tuple[int | None, int, int, int | None, int, int]] = []
        texts: list[str] = []
        months_only = year is None
        while True:
            month = _MONTH_INDEX[self._expect("month", "a month").value.lower()]
            if self._kind() == "number" and len(self._peek().value) <= 2:  # type: ignore[union-attr]
                day = self._day_of_month()
                y2, m2, d2 = year, month, day
                text = (f"{year} " if year else "") + f"{_MONTHS[month - 1]} {day:02d}"
                if self._kind() == "-":
                    self.i += 1
                    if self._kind() == "number" and len(self._peek().value) == 4:  # type: ignore[union-attr]
                        y2 = self._year()
                    if self._kind() == "month":
                        m2 = _MONTH_INDEX[self._take().value.lower()]
                        d2 = self._day_of_month()
                        text += "-" + (f"{y2} " if y2 and self.tokens[self.i - 3].kind == "number"
                                       and len(self.tokens[self.i - 3].value) == 4 else "") + \
                            f"{_MONTHS[m2 - 1]} {d2:02d}"
                    else:
                        d2 = self._day_of_month()
                        text += f"-{d2:02d}"
                dates.append((year, month, day, y2, m2, d2))
                months_only = False
            else:
                m2 = month
                text = (f"{year} " if year else "") + _MONTHS[month - 1]
                if self._kind() == "-":
                    self.i += 1
                    if self._kind() != "month":
                        self._fail("expected a month after '-'", self._peek())
                    m2 = _MONTH_INDEX[self._take().value.lower()]
                    text += f"-{_MONTHS[m2 - 1]}"
                dates.append((year, month, 0, year, m2, 0))
            texts.append(text)
            nxt = self._kind(1)
            if self._kind() != "," or nxt not in ("month", "number"):
                break
            if nxt == "number" and len(self.tokens[self.i + 1].value) != 4:
                break
            self.i += 1
            year = None
            if self._kind() == "number":
                year = self._year()
                months_only = False
        if months_only:
            months: set[int] = set()
            for _, m1, _, _, m2, _ in dates:
                months.update((m1 - 1 + k) % 12 + 1 for k in range((m2 - m1) % 12 + 1))
            sel["months"] = frozenset(months)
        else:
            sel["dates"] = tuple(dates)
        parts.append(",".join(texts))
        items.append(("months" if months_only else "dates", tuple(texts)))

    def _weeks(self, sel: dict[str, object], parts: list[str], items: list) -> None:
        self.i += 1
        weeks: list[tuple[int, int, int]] = []
        texts: list[str] = []
        while True:
            tok = self._expect("number", "a week number 01-53")
            first = last = int(tok.value)
            if self._kind() == "-":
                self.i += 1
                last = int(self._expect("number", "a week number after '-'").value)
            step = 1
            if self._kind() == "/":
                self.i += 1
                step = int(self._expect("number", "a step after '/'").value) or 1
            if not (1 <= first <= 53 and 1 <= last <= 53):
                self._fail(f"week numbers must be 01-53, got {first}-{last}", tok)
            weeks.append((first, last, step))
            texts.append(f"{first:02d}" + (f"-{last:02d}" if last != first else "")
                         + (f"/{step}" if step != 1 else ""))
            if self._kind() != "," or self._kind(1) != "number":
                break
            self.i += 1
        sel["weeks"] = tuple(weeks)
        parts.append("week " + ",".join(texts))
        items.append(("weeks", tuple(texts)))

    def _weekdays(self, sel: dict[str, object], parts: list[str], items: list) -> None:
        values: set[int] = set()
        nth: dict[int, set[int]] = {}
        texts: list[str] = []
        while True:
            tok = self._take()
            if tok.kind == "ph":
                texts.append("PH")
                sel["ph"] = True
            else:
                first = last = _WEEKDAY_INDEX[tok.value.lower()]
                if self._kind() == "-":
                    self.i += 1
                    if self._kind() != "weekday":
                        self._fail("expected a weekday after '-'", self._peek())
                    last = _WEEKDAY_INDEX[self._take().value.lower()]
                days = [(first + k) % 7 for k in range((last - first) % 7 + 1)]
                text = _WEEKDAYS[first]
                if first != last:
                    text += f"-{_WEEKDAYS[last]}"
                if self._kind() == "[":
                    nths, nth_text = self._nth()
                    for d in days:
                        nth.setdefault(d, set()).update(nths)
                    text += nth_text
                else:
                    values.update(days)
                texts.append(text)
            if self._kind() != "," or self._kind(1) not in ("weekday", "ph"):
                break
            self.i += 1
        sel["weekdays"] = frozenset(values) if values else None
        sel["nth"] = tuple((d, frozenset(n)) for d, n in sorted(nth.items()))
        parts.append(",".join(texts))
        items.append(("days", tuple(texts)))

    def _nth_number(self) -> int:
        negative = self._kind() == "-"
        self.i += negative
        tok = self._expect("number", "a number 1-5 or -1..-5 in '[...]'")
        if not 1 <= int(tok.value) <= 5:
            self._fail(f"the nth weekday must be 1-5 or -1..-5, got {tok.value!r}", tok)
        return -int(tok.value) if negative else int(tok.value)

    def _nth(self) -> tuple[set[int], str]:
        self.i += 1
        nths: set[int] = set()
        texts = []
        while True:
            a = self._nth_number()
            b = a
            if self._kind() == "-" and a > 0:
                self.i += 1
                b = self._nth_number()
                if b < a:
                    self._fail(f"nth range {a}-{b} runs backwards", self.tokens[self.i - 1])
            nths.update(range(a, b + 1))
            texts.append(f"{a}" if a == b else f"{a}-{b}")
            if self._kind() != ",":
                break
            self.i += 1
        self._expect("]", "']'")
        return nths, "[" + ",".join(texts) + "]"

    # times ---------------------------------------------------------------

    def _time_point(self, *, is_end: bool) -> tuple[int, str | None, int, str]:
        """(minutes, variable or None, offset, canonical text) of one time."""
        tok = self._peek()
        if tok is None:
            self._fail("expected a time HH:MM", None)
        if tok.kind == "time":
            self.i += 1
            minutes = self._minutes(tok, is_end=is_end)
            return minutes, None, 0, _clock(minutes)
        if tok.kind == "variable":
            self.i += 1
            word = tok.value.lower()
            return _VARIABLE_DEFAULTS[word], word, 0, word
        if tok.kind == "(":
            self.i += 1
            var = self._expect("variable", "sunrise, sunset, dawn or dusk after '('").value.lower()
            sign_tok = self._take()
            if sign_tok.kind not in ("+", "-"):
                self._fail("expected '+' or '-' in a variable time such as (sunrise+01:00)",
                           sign_tok)
            off_tok = self._expect("time", "an offset HH:MM")
            offset = self._minutes(off_tok, is_end=False) * (1 if sign_tok.kind == "+" else -1)
            self._expect(")", "')'")
            text = f"({var}{sign_tok.kind}{_clock(abs(offset))})"
            return _VARIABLE_DEFAULTS[var] + offset, var, offset, text
        if tok.kind == "word":
            self._unexpected(tok)
        self._fail(f"expected a time HH:MM, got {tok.value!r}", tok)

    def _times(self) -> tuple[tuple[_Time, ...], str]:
        spans: list[_Time] = []
        items = []
        while True:
            first = self._peek()
            start, svar, soff, stext = self._time_point(is_end=False)
            if self._kind() == "+":
                self.i += 1
                spans.append(_open_end(start, svar, soff))
                items.append(f"{stext}+")
            else:
                if self._kind() != "-":
                    if self._kind() == "/":
                        self._unexpected(self.tokens[self.i])
                    self._fail(f"time {first.value!r} must start a span HH:MM-HH:MM, or end "  # type: ignore[union-attr]
                               "with '+' (open end)", first)
                self.i += 1
                last = self._peek()
                if last is None or last.kind not in ("time", "variable", "("):
                    if last is not None and last.kind == "word":
                        self._unexpected(last)
                    self._fail(f"incomplete time span '{stext}-': expected a closing time "
                               "HH:MM after '-'", last)
                end, evar, eoff, etext = self._time_point(is_end=True)
                text = f"{stext}-{etext}"
                end += _DAY if end <= start or (end < start and (svar or evar)) else 0
                if end > 2 * _DAY:
                    self._fail(f"invalid time {etext!r}: a span must end by 48:00", last)
                spans.append(_Time(start, end, svar, soff, evar, eoff))
                if self._kind() == "+":  # 10:00-18:00+: unknown after the closing time
                    self.i += 1
                    spans.append(_open_end(end, evar, eoff))
                    text += "+"
                items.append(text)
            if self._kind() != "," or self._kind(1) not in ("time", "variable", "("):
                return tuple(spans), ",".join(items)
            self.i += 1

    def _minutes(self, tok: _Token, *, is_end: bool) -> int:
        hours, minutes = (int(part) for part in tok.value.split(":"))
        if minutes > 59:
            self._fail(f"invalid time {tok.value!r}: minutes must be 00-59", tok)
        if not is_end and hours > 23:
            self._fail(f"invalid time {tok.value!r}: a span must start at 00:00-23:59", tok)
        if hours * 60 + minutes > 2 * _DAY:
            self._fail(f"invalid time {tok.value!r}: a span must end by 48:00", tok)
        return hours * 60 + minutes


_VARIABLE_DEFAULTS = {"dawn": 5 * 60 + 30, "sunrise": 6 * 60, "sunset": 18 * 60,
                      "dusk": 18 * 60 + 30}


def _open_end(start: int, var: str | None, offset: int) -> _Time:
    """The unknown span after an open-ended time, with opening_hours.js's guessed end."""
    length = 8 * 60 if start >= 22 * 60 else 10 * 60 if start >= 17 * 60 else _DAY - start
    return _Time(start, start + length, var, offset, None, 0, open_end=True)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --------------------------------------------------------------------------- sun


def _sun_event(day: date, lon: float, lat: float, altitude: float, rising: bool) -> float | None:
    """UTC instant (POSIX seconds) when the sun's centre crosses ``altitude`` degrees on
    the solar day nearest ``day``'s local noon at ``lon``; None if it never does.

    The low-precision solar coordinates of the Astronomical Almanac (accurate to about
    0.01 degrees, well under a minute for mid latitudes), iterated once at the event.
    """
    rad = math.pi / 180
    # Days since J2000.0 at local solar noon of the day.
    n = (date(day.year, day.month, day.day) - date(2000, 1, 1)).days - 0.5 + 0.5 - lon / 360
    t = n
    for _ in range(3):
        g = (357.529 + 0.98560028 * t) * rad
        q = 280.459 + 0.98564736 * t
        ecl_lon = (q + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g)) * rad
        eps = (23.439 - 0.00000036 * t) * rad
        ra = math.atan2(math.cos(eps) * math.sin(ecl_lon), math.cos(ecl_lon))
        dec = math.asin(math.sin(eps) * math.sin(ecl_lon))
        eq_time = (q * rad - ra + math.pi) % (2 * math.pi) - math.pi  # radians
        noon = n - eq_time / (2 * math.pi)  # days since J2000.0 (UT) of the sun's transit
        cos_h = ((math.sin(altitude * rad) - math.sin(lat * rad) * math.sin(dec))
                 / (math.cos(lat * rad) * math.cos(dec)))
        if not -1 <= cos_h <= 1:
            return None
        hour_angle = math.acos(cos_h) / (2 * math.pi)
        t = noon - hour_angle if rising else noon + hour_angle
    return (t + 10957.5) * 86400.0  # J2000.0 is 2000-01-01 12:00 UTC = 946728000 s


_SUN_ALTITUDES = {"sunrise": (-0.833, True), "sunset": (-0.833, False),
                  "dawn": (-6.0, True), "dusk": (-6.0, False)}


@functools.lru_cache(maxsize=4096)
def _variable_minutes(name: str, day: date, place: _Place) -> int | None:
    """Minutes after local midnight of ``day`` (in the place's zone) of a sun event."""
    altitude, rising = _SUN_ALTITUDES[name]
    zone = time_util.zone(place.tz)
    for probe in (day, day - _ONE_DAY, day + _ONE_DAY):
        ts = _sun_event(probe, place.lon, place.lat, altitude, rising)
        if ts is None:
            continue
        local = datetime.fromtimestamp(ts, timezone.utc).astimezone(zone)
        if local.date() == day:
            return local.hour * 60 + local.minute
    return None


class _Place(NamedTuple):
    lon: float
    lat: float
    tz: str


# --------------------------------------------------------------------------- evaluation


def _in_steps(value: int, ranges: tuple[tuple[int, int, int], ...]) -> bool:
    return any(a <= value <= b and (value - a) % step == 0 for a, b, step in ranges)


def _in_date_range(day: date, r: tuple[int | None, int, int, int | None, int, int]) -> bool:
    y1, m1, d1, y2, m2, d2 = r
    if d1 == 0:  # months (with an optional year)
        if y1 is not None and day.year != y1:
            return False
        return (day.month - m1) % 12 <= (m2 - m1) % 12
    if y1 is not None:
        end_year = y2 if y2 is not None else y1
        return (y1, m1, d1) <= (day.year, day.month, day.day) <= (end_year, m2, d2)
    key, lo, hi = (day.month, day.day), (m1, d1), (m2, d2)
    return lo <= key <= hi if lo <= hi else (key >= lo or key <= hi)


def _matches(rule: _Rule, day: date, ph: bool) -> bool:
    if rule.years is not None and not _in_steps(day.year, rule.years):
        return False
    if rule.months is not None and day.month not in rule.months:
        return False
    if rule.dates is not None and not any(_in_date_range(day, r) for r in rule.dates):
        return False
    if rule.weeks is not None and not _in_steps(day.isocalendar()[1], rule.weeks):
        return False
    if rule.weekdays is None and not rule.nth and not rule.ph:
        return True
    wd = day.weekday()
    if rule.weekdays is not None and wd in rule.weekdays:
        return True
    for d, nths in rule.nth:
        if d == wd:
            first = (day.day - 1) // 7 + 1
            last = -((_month_length(day) - day.day) // 7 + 1)
            if first in nths or last in nths:
                return True
    return rule.ph and ph


def _month_length(day: date) -> int:
    nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return (nxt - _ONE_DAY).day


def _resolve(t: _Time, day: date, place: _Place | None) -> tuple[int, int] | None:
    """(start, end) minutes of a span on ``day``; None when it depends on an unknown
    position or a sun event that does not happen that day."""
    if t.start_var is None and t.end_var is None:
        return t.start, t.end
    got = _with_variables(t, t.start, t.end, day, place)
    if got is None:
        return None
    start, end = got
    if t.end_var is not None:
        if end <= start:
            end += _DAY
    elif t.open_end:
        end = start + (t.end - t.start)
    elif end <= start:
        end += _DAY
    return start, end


def _with_variables(t: _Time, start: int, end: int, day: date, place: _Place | None
                    ) -> tuple[int, int] | None:
    """``(start, end)`` with the span's sun-based ends (if any) put in for ``day`` at
    ``place``; None without a position or when the sun event does not happen that day."""
    if place is None:
        return None
    if t.start_var is not None:
        m = _variable_minutes(t.start_var, day, place)
        if m is None:
            return None
        start = m + t.start_offset
    if t.end_var is not None:
        m = _variable_minutes(t.end_var, day, place)
        if m is None:
            return None
        end = m + t.end_offset
    return start, end


def _resolve_wrapped(t: _Time, day: date, place: _Place | None) -> tuple[int, int] | None:
    """The past-midnight part on ``day`` (shifted by a day) of a span of the day before.

    As in opening_hours.js, variable times are those of ``day`` itself: ``sunset-sunrise``
    ends at this morning's sunrise, and does not wrap when that is after the start.
    """
    if t.start_var is None and t.end_var is None or t.open_end:
        return _resolve(t, day - _ONE_DAY, place)
    got = _with_variables(t, t.start, t.end - _DAY, day, place)
    if got is None:
        return None
    start, end = got
    if end > start:
        return None
    return _DAY, _DAY + end


_Seg = tuple[int, int, int]  # (start, end, state) with state OPEN or UNKNOWN


def _paint(day: list[_Seg], start: int, end: int, state: int, fallback: bool) -> list[_Seg]:
    """``day``'s sorted segments with [start, end) painted ``state`` (only over closed
    minutes when ``fallback``)."""
    start, end = max(start, 0), min(end, _DAY)
    if start >= end:
        return day
    if fallback:
        if state == CLOSED:
            return day
        gaps, cursor = [], start
        for s0, s1, _ in day:
            if s1 <= cursor or s0 >= end:
                continue
            if s0 > cursor:
                gaps.append((cursor, s0, state))
            cursor = max(cursor, s1)
        if cursor < end:
            gaps.append((cursor, end, state))
        return _merge(day + gaps)
    out: list[_Seg] = []
    for s0, s1, st in day:
        if s1 <= start or s0 >= end:
            out.append((s0, s1, st))
            continue
        if s0 < start:
            out.append((s0, start, st))
        if s1 > end:
            out.append((end, s1, st))
    if state != CLOSED:
        out.append((start, end, state))
    return _merge(out)


def _merge(segs: list[_Seg]) -> list[_Seg]:
    segs.sort()
    merged: list[_Seg] = []
    for seg in segs:
        if merged and merged[-1][1] == seg[0] and merged[-1][2] == seg[2]:
            merged[-1] = (merged[-1][0], seg[1], seg[2])
        else:
            merged.append(seg)
    return merged


def _apply(rule: _Rule, day: list[_Seg], d: date, place: _Place | None, *,
           wrapped: bool) -> list[_Seg]:
    fallback = rule.kind == "fallback" and not wrapped
    if not rule.times:
        return day if wrapped else _paint(day, 0, _DAY, rule.state, fallback)
    shift = _DAY if wrapped else 0
    origin = d - _ONE_DAY if wrapped else d
    for k, t in enumerate(rule.times):
        span = _resolve_wrapped(t, d, place) if wrapped else _resolve(t, origin, place)
        state = rule.state
        if span is None:
            if t.start_var is None and t.end_var is None:
                continue
            if wrapped:
                continue
            span, state = (0, _DAY), UNKNOWN  # a sun time without a position: unknown
        start, end = span[0] - shift, span[1] - shift
        if t.open_end:
            if state == CLOSED:
                continue
            state = UNKNOWN
            nxt = rule.times[k + 1] if k + 1 < len(rule.times) else None
            if nxt is not None and not nxt.open_end:
                nxt_span = _resolve(nxt, origin, place)
                if nxt_span is not None and nxt_span[0] - shift > start:
                    end = min(end, nxt_span[0] - shift)  # 07:00+,12:00-16:00
        day = _paint(day, start, end, state, fallback)
    return day


def _day_profile(rules: tuple[_Rule, ...], d: date, ph: bool, prev_ph: bool,
                 place: _Place | None) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """(bounds, states) of one day: sorted (start0, end0, start1, ...) and each interval's
    state (None when all are open)."""
    prev = d - _ONE_DAY
    matching: list[tuple[_Rule, bool]] = []
    last_has_date = False
    for i, rule in enumerate(rules):
        has_date = rule.has_date
        if _matches(rule, d, ph):
            resets = rule.kind == "normal" and rule.state != CLOSED and (
                has_date or (i > 0 and rule.state == OPEN and not last_has_date))
            if resets:
                matching = []
            matching.append((rule, False))
        if any(t.end > _DAY or t.start_var or t.end_var for t in rule.times) and \
                _matches(rule, prev, prev_ph):
            matching.append((rule, True))
        last_has_date = has_date
    day: list[_Seg] = []
    for rule, wrapped in matching:
        day = _apply(rule, day, d, place, wrapped=wrapped)
    bounds: list[int] = []
    states: list[int] = []
    for start, end, state in day:  # adjacent open and unknown segments share a bound
        bounds += (start, end)
        states.append(state)
    if all(s == OPEN for s in states):
        return tuple(bounds), None
    return tuple(bounds), tuple(states)


_Profile = tuple[tuple[int, ...], tuple[int, ...] | None]


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Parsed opening hours; build it with :func:`parse_hours`.

    Days are compiled lazily to sorted minute boundaries: one table per weekday when the
    rules use only weekdays, else per kind of day (weekday, month and public holiday of
    the day and the day before) or, for dates, weeks, nth weekdays and sun times, per date
    (and position). :meth:`state` is then a lookup and a bisection. Evaluation uses a
    datetime's wall-clock fields as given; :func:`open_status` converts to the station's
    timezone first.
    """

    text: str
    _rules: tuple[_Rule, ...] = field(repr=False, compare=False)
    _weekly: tuple[_Profile, ...] | None = field(repr=False, compare=False)
    _mode: str = field(repr=False, compare=False)  # "weekly", "kinds" or "dates"
    _uses_sun: bool = field(repr=False, compare=False)
    _cache: dict = field(repr=False, compare=False)

    @classmethod
    def _compile(cls, text: str, rules: tuple[_Rule, ...]) -> OpeningHours:
        uses_sun = any(t.start_var or t.end_var for r in rules for t in r.times)
        by_date = uses_sun or any(r.years or r.dates or r.weeks or r.nth for r in rules)
        uses_kinds = any(r.months is not None or r.ph for r in rules)
        mode = "dates" if by_date else "kinds" if uses_kinds else "weekly"
        weekly = None
        if mode == "weekly":
            monday = date(2024, 1, 1)
            weekly = tuple(_day_profile(rules, monday + wd * _ONE_DAY, False, False, None)
                           for wd in range(7))
        return cls(text, rules, weekly, mode, uses_sun, {})

    @property
    def uses_position(self) -> bool:
        """True if the hours use sunrise, sunset, dawn or dusk."""
        return self._uses_sun

    @property
    def is_always_open(self) -> bool:
        """True if open at every minute of every kind of day (``24/7`` or equivalent)."""
        cached = self._cache.get("always")
        if cached is None:
            if self._weekly is not None:
                cached = all(p == ((0, _DAY), None) for p in self._weekly)
            else:  # two years of days cover every month, holiday, week and weekday
                start = date(2025, 1, 1)
                cached = all(self._profile(start + k * _ONE_DAY, None) == ((0, _DAY), None)
                             for k in range(731))
            self._cache["always"] = cached
        return cached

    def _profile(self, day: date, place: _Place | None) -> _Profile:
        if self._weekly is not None:
            return self._weekly[day.weekday()]
        if self._mode == "kinds":
            holidays = public_holidays()
            ph, prev_ph = day in holidays, (day - _ONE_DAY) in holidays
            prev_month = day.month if day.day > 1 else (day.month - 2) % 12 + 1
            key: tuple = (day.weekday(), prev_month, day.month, prev_ph, ph)
        else:
            key = (day, place if self._uses_sun else None)
        profile = self._cache.get(key)
        if profile is None:
            holidays = public_holidays()
            if self._mode == "kinds":  # a representative date of this kind of day
                profile = _day_profile(self._rules, day, key[4], key[3], place)
            else:
                profile = _day_profile(self._rules, day, day in holidays,
                                       (day - _ONE_DAY) in holidays, place)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = profile
        return profile

    def state(self, dt: datetime, *, position: tuple[float, float] | None = None,
              tz: str = DEFAULT_TIMEZONE) -> str:
        """"open", "closed" or "unknown" at ``dt`` (its wall-clock date and minute).

        ``position`` is the station's (lon, lat), WGS-84, and ``tz`` its time zone; both
        matter only for sunrise, sunset, dawn and dusk, which are unknown without one.
        """
        return _STATE_NAMES[self._state(dt, _place(position, tz) if self._uses_sun else None)]

    def _state(self, dt: datetime, place: _Place | None) -> int:
        if self._weekly is not None:
            bounds, states = self._weekly[dt.weekday()]
        else:
            bounds, states = self._profile(dt.date(), place)
        i = bisect_right(bounds, dt.hour * 60 + dt.minute)
        if not i % 2:
            return CLOSED
        return OPEN if states is None else states[i // 2]

    def is_open(self, dt: datetime, *, position: tuple[float, float] | None = None,
                tz: str = DEFAULT_TIMEZONE) -> bool:
        """Whether the hours say open at ``dt`` (unknown counts as not open)."""
        if self._weekly is not None:
            bounds, states = self._weekly[dt.weekday()]
            i = bisect_right(bounds, dt.hour * 60 + dt.minute)
            return i % 2 == 1 and (states is None or states[i // 2] == OPEN)
        return self._state(dt, _place(position, tz) if self._uses_sun else None) == OPEN

    def is_closed(self, dt: datetime, *, position: tuple[float, float] | None = None,
                  tz: str = DEFAULT_TIMEZONE) -> bool:
        """Whether the hours say closed at ``dt`` ("unknown" is not closed: a filter
        that keeps what may be open uses this, not ``not is_open``)."""
        return self._state(dt, _place(position, tz) if self._uses_sun else None) == CLOSED

    def next_change(self, dt: datetime, *, horizon_days: int = 8,
                    position: tuple[float, float] | None = None,
                    tz: str = DEFAULT_TIMEZONE) -> datetime | None:
        """The next instant after ``dt`` at which the state (open, closed, unknown) changes.

        Returns None if nothing changes within ``horizon_days`` days (always so for
        ``24/7``). The result carries ``dt``'s tzinfo and is computed in wall-clock time.
        """
        if not isinstance(horizon_days, int) or horizon_days < 1:
            raise InvalidInput(f"Got horizon_days={horizon_days!r}; it must be a positive "
                               "integer", field="horizon_days")
        if self.is_always_open:
            return None
        return self._next_change(dt, horizon_days,
                                 _place(position, tz) if self._uses_sun else None)

    def _next_change(self, dt: datetime, horizon_days: int,
                     place: _Place | None) -> datetime | None:
        day0 = dt.date()
        now = dt.hour * 60 + dt.minute
        limit = now + horizon_days * _DAY
        current = self._state(dt, place)
        for offset in range(horizon_days + 1):
            base = offset * _DAY
            bounds, states = self._profile(day0 + offset * _ONE_DAY, place)
            for edge, seg_state in _segments(bounds, states):
                minute = base + edge
                if minute <= now or seg_state == current:
                    continue
                if minute > limit:
                    return None
                return datetime.combine(day0, time(), tzinfo=dt.tzinfo) + timedelta(minutes=minute)
        return None


def _segments(bounds: tuple[int, ...], states: tuple[int, ...] | None) -> list[tuple[int, int]]:
    """A day's non-empty segments as (start minute, state)."""
    out = [] if bounds and bounds[0] == 0 else [(0, CLOSED)]
    for k in range(0, len(bounds), 2):
        out.append((bounds[k], OPEN if states is None else states[k // 2]))
        if bounds[k + 1] < _DAY and (k + 2 >= len(bounds) or bounds[k + 2] != bounds[k + 1]):
            out.append((bounds[k + 1], CLOSED))
    return out


def _place(position: tuple[float, float] | None, tz: str) -> _Place | None:
    if position is None:
        return None
    lon, lat = position
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"Got position={position!r}; it must be (lon, lat) in degrees",
                           field="position")
    return _Place(round(float(lon), 4), round(float(lat), 4), tz)


@functools.lru_cache(maxsize=4096)
def _parse_normalised(text: str) -> OpeningHours:
    canonical, rules = _Parser(text).parse()
    return OpeningHours._compile(canonical, rules)


def parse_hours(text: str) -> OpeningHours:
    """Parse an ``opening_hours`` value; results are cached by whitespace-normalised text.

    Raises
    ------
    InvalidInput
        With ``field="opening_hours"``, naming the bad token and its position.
    """
    if not isinstance(text, str):
        raise InvalidInput("opening_hours must be a string such as 'Mo-Fr 08:00-20:00', "
                           f"got {type(text).__name__}", field="opening_hours")
    return _parse_normalised(" ".join(text.translate(_LENIENT).split()))


def validate_hours(text: str | None) -> str | None:
    """Return the canonical text of ``text``, None for None or blank; raise InvalidInput."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    return parse_hours(text).text


def open_status(
    hours: str | OpeningHours | None, at: datetime | None = None, *, tz: str = DEFAULT_TIMEZONE,
    position: tuple[float, float] | None = None,
) -> tuple[str, datetime | None]:
    """Return ("open" | "closed" | "unknown", next change) of ``hours`` at ``at``.

    Parameters
    ----------
    hours
        The opening hours; None or blank text gives ("unknown", None).
    at
        The moment to evaluate, now if None. A naive datetime is wall-clock time in
        ``tz``; an aware one is converted to ``tz`` first.
    tz
        IANA timezone of the station.
    position
        The station's (lon, lat), WGS-84; needed for sunrise, sunset, dawn and dusk,
        which are "unknown" without it.

    Returns
    -------
    tuple
        The state and the next change (of state, "unknown" included) as an aware
        datetime in ``tz`` (None when nothing changes within 8 days, as for ``24/7``).
    """
    if hours is None or (isinstance(hours, str) and not hours.strip()):
        return "unknown", None
    parsed = hours if isinstance(hours, OpeningHours) else parse_hours(hours)
    place = _place(position, tz) if parsed._uses_sun else None
    if at is None:
        return _state_at_minute(parsed, _this_minute(tz), tz, place)
    zone = time_util.zone(tz)
    if at.tzinfo is None:
        local = at.replace(tzinfo=zone)
    else:
        local = at.astimezone(zone)
    # Opening hours change on whole minutes, so the state and the next change at any
    # second of a minute equal those at its start: truncating makes the answer cacheable
    # (many stations share hours, and "now" stays the same minute for many requests).
    return _state_at_minute(parsed, local.replace(second=0, microsecond=0), tz, place)


def state_now(hours: OpeningHours, tz: str = DEFAULT_TIMEZONE, *,
              position: tuple[float, float] | None = None) -> tuple[str, datetime | None]:
    """:func:`open_status` of parsed hours at the current minute (cached per minute)."""
    place = _place(position, tz) if hours._uses_sun else None
    return _state_at_minute(hours, _this_minute(tz), tz, place)


_MINUTE: list = [None, None, None]  # (tz, minute number, aware datetime) of the last call


def _this_minute(tz: str) -> datetime:
    """The current minute in ``tz`` (the datetime is rebuilt once a minute, not per call)."""
    m = int(_time.time() // 60)
    cached = _MINUTE
    if cached[0] != tz or cached[1] != m:
        cached[2] = datetime.now(time_util.zone(tz)).replace(second=0, microsecond=0)
        cached[0], cached[1] = tz, m
    return cached[2]


@functools.lru_cache(maxsize=8192)
def _state_at_minute(parsed: OpeningHours, local: datetime, tz: str,
                     place: _Place | None) -> tuple[str, datetime | None]:
    # ``tz`` is part of the key: aware datetimes of the same instant in different zones
    # are equal and hash alike, but their wall-clock fields (what is evaluated) differ.
    state = parsed._state(local, place)
    change = None if parsed.is_always_open else parsed._next_change(local, 8, place)
    return _STATE_NAMES[state], change


# --------------------------------------------------------------------------- holidays


@functools.cache
def public_holidays() -> frozenset[date]:
    """The mainland China public-holiday days off that ``PH`` matches (loaded once, lazily)."""
    path = geodata_path("cn_public_holidays.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        try:
            return frozenset(date.fromisoformat(row["date"]) for row in csv.DictReader(fh))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: every row needs an ISO date (YYYY-MM-DD): {exc}") from exc

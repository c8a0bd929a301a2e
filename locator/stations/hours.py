"""Opening hours in OpenStreetMap ``opening_hours`` syntax: parse, validate, evaluate.

Supported subset (https://wiki.openstreetmap.org/wiki/Key:opening_hours/specification):

- ``24/7``, alone as a rule's selector.
- Months ``Jan``..``Dec``: single, ranges (``Nov-Feb`` wraps) and lists, before the weekdays.
- Weekdays ``Mo``..``Su``: single, ranges (``Sa-Mo`` wraps) and lists, plus ``PH``
  (``Sa,Su,PH`` matches a Saturday, a Sunday *or* a public holiday).
- Time spans ``HH:MM-HH:MM`` separated by ``,``. ``24:00`` ends a day; a span whose end is
  not after its start runs past midnight (``Fr 22:00-02:00`` is Friday 22:00 to Saturday
  02:00; equal ends mean 24 hours); extended ends up to ``48:00`` are accepted.
  A rule with selectors but no times means the whole day.
- Modifiers ``off``/``closed`` and ``open``; a trailing ``"comment"`` is kept in the text
  but ignored, unless it is all a rule says (that means "unknown" and is rejected).
- Rule separators ``; `` (normal) and ``, `` (additional). Spaces are not significant, so
  a comma followed by a time continues the time list (``08:00-12:00, 14:00-18:00`` is one
  rule with a lunch break) and one followed by a day continues the day list; an
  additional rule starts after a rule's times or modifier (``Mo-Fr 08:00-12:00, We off``).
- Rejected with :class:`~locator.errors.InvalidInput`: the ``||`` fallback, ``SH``, dates,
  years, weeks, ``Th[3]``, open ends (``+``), ``unknown``, sunrise/sunset/dawn/dusk.
- Lenient input: case is ignored, hours may have one digit, full-width ``：；，`` and
  ``–``/``~`` are read as ``:;,-``. :attr:`OpeningHours.text` is the canonical spelling.

Semantics, per calendar day D (as in opening_hours.js): rules are applied left to right.
A normal rule whose selector matches D replaces D's hours, including hours spilling
into D from the day before; an additional rule adds to them. ``off`` without times
closes the whole day; ``off`` with times closes only those times. Afterwards, a rule
whose selector matched D-1 adds (or, if ``off``, removes) its past-midnight part to D.

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
import re
import time as _time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import product
from typing import NamedTuple, NoReturn

from .. import time_util
from .._paths import geodata_path
from ..config import DEFAULT_TIMEZONE
from ..errors import InvalidInput

__all__ = ["OpeningHours", "open_status", "parse_hours", "public_holidays", "validate_hours"]

_DAY = 24 * 60
_ONE_DAY = timedelta(days=1)
_WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAY_INDEX = {name.lower(): i for i, name in enumerate(_WEEKDAYS)}
_MONTH_INDEX = {name.lower(): i + 1 for i, name in enumerate(_MONTHS)}
_WORD_KINDS = {**dict.fromkeys(_WEEKDAY_INDEX, "weekday"), **dict.fromkeys(_MONTH_INDEX, "month"),
               **dict.fromkeys(("off", "closed", "open"), "modifier"), "ph": "ph"}
_LENIENT = str.maketrans({"：": ":", "；": ";", "，": ",", "–": "-", "—": "-", "～": "-", "~": "-"})
_SUPPORTED = (
    "Supported: '24/7'; months Jan-Dec; weekdays Mo-Su (ranges such as Sa-Mo, lists) and PH; "
    "time spans HH:MM-HH:MM separated by ',' (24:00 and spans past midnight allowed); "
    "'off', 'closed', 'open'; rules separated by '; ' or ', '"
)
_UNSUPPORTED_WORDS = {
    **dict.fromkeys(("sunrise", "sunset", "dawn", "dusk"), "variable times (sunrise, sunset, "
                    "dawn, dusk) are not supported; use fixed HH:MM times"),
    "sh": "school holidays (SH) are not supported; only PH is",
    "unknown": "the 'unknown' modifier is not supported; leave the hours empty instead",
    "week": "week-number selectors are not supported",
    "easter": "easter dates are not supported",
}
_TOKEN_RE = re.compile(r'\s+|(?P<comment>"[^"]*")|(?P<always>24/7)|(?P<time>\d{1,2}:\d{2})'
                       r'|(?P<word>[A-Za-z]+)|(?P<number>\d+)|(?P<sym>\|\||[;,\-+\[\]():/"])')

_Span = tuple[int, int]
_WHOLE_DAY: tuple[_Span, ...] = ((0, _DAY),)


class _Token(NamedTuple):
    kind: str  # weekday, month, ph, modifier, word, comment, 24/7, time, number or the symbol
    value: str
    pos: int


class _Rule(NamedTuple):
    months: frozenset[int] | None  # 1-12; None: every month
    weekdays: frozenset[int] | None  # 0-6 (Monday 0); None with ph=False: every day
    ph: bool
    spans: tuple[_Span, ...]  # minutes from the day's midnight, end < 2 days; () = whole day
    is_open: bool
    additional: bool


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

    def _unexpected(self, tok: _Token) -> NoReturn:
        if tok.kind == "word":
            word = tok.value.lower()
            self._fail(_UNSUPPORTED_WORDS.get(word, f"unknown word {tok.value!r}"), tok)
        problems = {
            "||": "fallback rules ('||') are not supported",
            "+": "open-ended times ('+') are not supported; give a closing time",
            "[": "nth-weekday selectors such as 'Th[3]' are not supported",
            "24/7": "'24/7' must be a rule of its own; use 00:00-24:00 after day selectors",
            "number": f"unexpected number {tok.value!r} (specific dates, years and week numbers "
            "are not supported; times are HH:MM)",
        }
        hint = ("; separate rules with '; ' and put day selectors before times"
                if tok.kind in ("weekday", "month", "ph", "time") else "")
        self._fail(problems.get(tok.kind, f"unexpected {tok.value!r}{hint}"), tok)

    def parse(self) -> tuple[str, tuple[_Rule, ...]]:
        if not self.tokens:
            raise InvalidInput("opening_hours is empty; expected e.g. '24/7' or 'Mo-Fr "
                               "08:00-20:00', or no value at all when the hours are unknown",
                               field="opening_hours")
        rules, text, additional = [], "", False
        while True:
            rule, rule_text = self._rule(additional)
            rules.append(rule)
            text += rule_text
            sep = self._peek()
            if sep is None or (sep.kind == ";" and self.i + 1 == len(self.tokens)):
                return text, tuple(rules)  # a trailing ';' is harmless
            if sep.kind not in (";", ","):
                self._unexpected(sep)
            self.i += 1
            additional = sep.kind == ","
            text += f"{sep.kind} "

    def _rule(self, additional: bool) -> tuple[_Rule, str]:
        start, months, weekdays, ph = self._peek(), None, None, False
        spans: tuple[_Span, ...] = ()
        parts: list[str] = []
        if self._kind() == "24/7":
            self.i += 1
            spans, parts = _WHOLE_DAY, ["24/7"]
        else:
            if self._kind() == "month":
                months, text = self._selector("month", _MONTH_INDEX, _MONTHS, 1)
                parts.append(text)
            if self._kind() in ("weekday", "ph"):
                days, text = self._selector("weekday", _WEEKDAY_INDEX, _WEEKDAYS, 0)
                weekdays, ph = days or None, "PH" in text.split(",")
                parts.append(text)
            if self._kind() == "time":
                spans, text = self._times()
                parts.append(text)
        has_modifier = self._kind() == "modifier"
        modifier = self._take().value.lower() if has_modifier else "open"
        parts += [modifier] if has_modifier else []
        if self._kind() == "comment":
            if not (spans or has_modifier):
                self._fail("a comment without times or a modifier means 'unknown', which is "
                           "not supported; add times or 'off'", self._peek())
            parts.append(self._take().value)
        if not parts:
            if start is None or start.kind in (";", ","):
                self._fail("empty rule", start)
            self._unexpected(start)
        rule = _Rule(months, weekdays, ph, spans, modifier == "open", additional)
        return rule, " ".join(parts)

    def _selector(
        self, kind: str, index: dict[str, int], names: tuple[str, ...], base: int
    ) -> tuple[frozenset[int], str]:
        """A comma-separated list of names and wrapping ranges (and PH, for weekdays)."""
        values: set[int] = set()
        items, n = [], len(names)
        while True:
            tok = self._take()
            if tok.kind == "ph":
                items.append("PH")
            else:
                first = last = index[tok.value.lower()] - base
                if self._kind() == "-":
                    self.i += 1
                    if self._kind() != kind:
                        self._fail(f"expected a {kind} after '-'", self._peek())
                    last = index[self._take().value.lower()] - base
                items.append(names[first] if first == last else f"{names[first]}-{names[last]}")
                values.update(base + (first + k) % n for k in range((last - first) % n + 1))
            continues = (kind, "ph") if kind == "weekday" else (kind,)
            if self._kind() != "," or self._kind(1) not in continues:
                return frozenset(values), ",".join(items)
            self.i += 1

    def _times(self) -> tuple[tuple[_Span, ...], str]:
        spans, items = [], []
        while True:
            first = self._take()
            start = self._minutes(first, is_end=False)
            if self._kind() != "-":
                if self._kind() == "+":
                    self._unexpected(self.tokens[self.i])
                self._fail(f"time {first.value!r} must start a span HH:MM-HH:MM", first)
            self.i += 1
            last = self._peek()
            if last is None or last.kind != "time":
                if last is not None and last.kind == "word":
                    self._unexpected(last)
                self._fail(f"incomplete time span '{first.value}-': expected a closing time "
                           "HH:MM after '-'", last)
            end = self._minutes(self._take(), is_end=True)
            items.append(f"{_clock(start)}-{_clock(end)}")
            end += _DAY if end <= start else 0
            if end - start > _DAY:
                self._fail(f"time span '{first.value}-{last.value}' lasts more than 24 hours", last)
            spans.append((start, end))
            if self._kind() != "," or self._kind(1) != "time":
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


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --------------------------------------------------------------------------- compiling


def _union(*lists: list[_Span]) -> list[_Span]:
    merged: list[_Span] = []
    for start, end in sorted(iv for lst in lists for iv in lst):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _subtract(state: list[_Span], holes: list[_Span]) -> list[_Span]:
    pieces = state
    for h_start, h_end in holes:
        pieces = [piece for start, end in pieces
                  for piece in ((start, min(end, h_start)), (max(start, h_end), end))
                  if piece[0] < piece[1]]
    return pieces


def _matches(rule: _Rule, weekday: int, month: int, ph: bool) -> bool:
    if rule.months is not None and month not in rule.months:
        return False
    if rule.weekdays is None and not rule.ph:
        return True
    return (rule.weekdays is not None and weekday in rule.weekdays) or (rule.ph and ph)


def _day_bounds(
    rules: tuple[_Rule, ...], prev: tuple[int, int, bool], day: tuple[int, int, bool]
) -> tuple[int, ...]:
    """Sorted, merged open intervals of one day, flattened to (start0, end0, start1, ...)."""
    state: list[_Span] = []
    for rule in rules:
        spans = rule.spans or _WHOLE_DAY
        if _matches(rule, *day):
            today = [(start, min(end, _DAY)) for start, end in spans]
            if rule.is_open:
                state = _union(state, today) if rule.additional else _union(today)
            else:
                state = _subtract(state, today) if rule.spans else []
        spill = [(0, end - _DAY) for _, end in spans if end > _DAY]
        if spill and _matches(rule, *prev):
            state = _union(state, spill) if rule.is_open else _subtract(state, spill)
    return tuple(bound for interval in _union(state) for bound in interval)


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Parsed, precompiled opening hours; build it with :func:`parse_hours`.

    Every day is precompiled to sorted minute boundaries, one table per weekday, or per
    (weekday, month, public holiday) of the day and the day before when the rules use
    months or PH, so :meth:`is_open` is a lookup and a bisection.
    Evaluation uses a datetime's wall-clock fields as given; :func:`open_status`
    converts to the station's timezone first.
    """

    text: str
    _weekly: tuple[tuple[int, ...], ...] | None = field(repr=False, compare=False)
    _profiles: dict[tuple[int, int, int, bool, bool], tuple[int, ...]] = field(
        repr=False, compare=False)
    _uses_months: bool = field(repr=False, compare=False)
    _uses_ph: bool = field(repr=False, compare=False)
    _always: bool = field(repr=False, compare=False)

    @classmethod
    def _compile(cls, text: str, rules: tuple[_Rule, ...]) -> OpeningHours:
        uses_months = any(rule.months is not None for rule in rules)
        uses_ph = any(rule.ph for rule in rules)
        phs = (False, True) if uses_ph else (False,)
        month_pairs = [(m, m) for m in range(1, 13)] + [(m % 12 + 1, m) for m in range(1, 13)]
        profiles = {
            (wd, pm, m, pp, p): _day_bounds(rules, ((wd - 1) % 7, pm, pp), (wd, m, p))
            for wd, (m, pm), pp, p in product(
                range(7), month_pairs if uses_months else [(0, 0)], phs, phs)
        }
        weekly = None
        if not (uses_months or uses_ph):
            weekly = tuple(profiles[(wd, 0, 0, False, False)] for wd in range(7))
        always = all(bounds == (0, _DAY) for bounds in profiles.values())
        return cls(text, weekly, profiles, uses_months, uses_ph, always)

    @property
    def is_always_open(self) -> bool:
        """True if open at every minute of every kind of day (``24/7`` or equivalent)."""
        return self._always

    def _bounds(self, day: date) -> tuple[int, ...]:
        month, prev_month, ph, prev_ph = 0, 0, False, False
        if self._uses_months:
            month = day.month
            prev_month = month if day.day > 1 else (month - 2) % 12 + 1
        if self._uses_ph:
            holidays = public_holidays()
            ph, prev_ph = day in holidays, (day - _ONE_DAY) in holidays
        return self._profiles[(day.weekday(), prev_month, month, prev_ph, ph)]

    def is_open(self, dt: datetime) -> bool:
        """Whether the hours say open at ``dt`` (its wall-clock date and minute)."""
        if self._weekly is not None:
            bounds = self._weekly[dt.weekday()]
        else:
            bounds = self._bounds(dt.date())
        return bisect_right(bounds, dt.hour * 60 + dt.minute) % 2 == 1

    def next_change(self, dt: datetime, *, horizon_days: int = 8) -> datetime | None:
        """The next instant after ``dt`` at which open/closed flips.

        Returns None if nothing changes within ``horizon_days`` days (always so for
        ``24/7``). The result carries ``dt``'s tzinfo and is computed in wall-clock time.
        """
        if not isinstance(horizon_days, int) or horizon_days < 1:
            raise InvalidInput(f"Got horizon_days={horizon_days!r}; it must be a positive "
                               "integer", field="horizon_days")
        if self._always:
            return None
        day0 = dt.date()
        now = dt.hour * 60 + dt.minute
        limit = now + horizon_days * _DAY
        changes: list[int] = []
        for offset in range(horizon_days + 1):
            base = offset * _DAY
            for j, bound in enumerate(self._bounds(day0 + offset * _ONE_DAY)):
                if j == 0 and changes and changes[-1] == base + bound:
                    changes.pop()  # open through midnight: no change there
                else:
                    changes.append(base + bound)
        for minute in changes:
            if minute > now:
                if minute > limit:
                    return None
                return datetime.combine(day0, time(), tzinfo=dt.tzinfo) + timedelta(minutes=minute)
        return None


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
    hours: str | OpeningHours | None, at: datetime | None = None, *, tz: str = DEFAULT_TIMEZONE
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

    Returns
    -------
    tuple
        The state and the next change as an aware datetime in ``tz`` (None when
        nothing changes within 8 days, as for ``24/7``).
    """
    if hours is None or (isinstance(hours, str) and not hours.strip()):
        return "unknown", None
    parsed = hours if isinstance(hours, OpeningHours) else parse_hours(hours)
    if at is None:
        return _state_at_minute(parsed, _this_minute(tz))
    zone = time_util.zone(tz)
    if at.tzinfo is None:
        local = at.replace(tzinfo=zone)
    else:
        local = at.astimezone(zone)
    # Opening hours change on whole minutes, so the state and the next change at any
    # second of a minute equal those at its start: truncating makes the answer cacheable
    # (many stations share hours, and "now" stays the same minute for many requests).
    return _state_at_minute(parsed, local.replace(second=0, microsecond=0))


def state_now(hours: OpeningHours, tz: str = DEFAULT_TIMEZONE) -> tuple[str, datetime | None]:
    """:func:`open_status` of parsed hours at the current minute (cached per minute)."""
    return _state_at_minute(hours, _this_minute(tz))


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
def _state_at_minute(parsed: OpeningHours, local: datetime) -> tuple[str, datetime | None]:
    return ("open" if parsed.is_open(local) else "closed"), parsed.next_change(local)


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

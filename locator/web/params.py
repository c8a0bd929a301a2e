"""Strict query-parameter parsing: every parameter is declared, unknown ones are refused,
and every error names the parameter and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from ..errors import InvalidInput

MAX_VALUES = 50  # per repeatable parameter
MAX_VALUE_LENGTH = 200


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
        raise InvalidInput(f"unknown parameter(s) {', '.join(map(repr, sorted(unknown)))}; "
                           f"allowed: {', '.join(known)}", field=sorted(unknown)[0])
    out: dict[str, Any] = {}
    for p in params:
        values = args.getlist(p.name)
        if not values:
            if p.required:
                raise InvalidInput(f"{p.name}: is required", field=p.name)
            out[p.name] = [] if p.repeat else p.default
            continue
        if not p.repeat and len(values) > 1:
            raise InvalidInput(f"{p.name}: given {len(values)} times; give it once",
                               field=p.name)
        if len(values) > MAX_VALUES:
            raise InvalidInput(f"{p.name}: at most {MAX_VALUES} values", field=p.name)
        parsed = []
        for v in values:
            if len(v) > MAX_VALUE_LENGTH:
                raise InvalidInput(f"{p.name}: value longer than {MAX_VALUE_LENGTH} characters",
                                   field=p.name)
            try:
                parsed.append(p.parse(v))
            except InvalidInput as e:
                raise InvalidInput(e.message if e.message.startswith(p.name)
                                   else f"{p.name}: {e.message}", field=p.name) from None
        out[p.name] = parsed if p.repeat else parsed[0]
    return out


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

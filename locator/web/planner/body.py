"""JSON bodies of the planner API: every field declared, unknown fields refused, and
every error naming its field (``candidates[3].lon``) and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from flask import request
from werkzeug.exceptions import UnsupportedMediaType

from ... import config
from ...coverage import Candidates, check_minutes, check_mode
from ...coverage.metrics import weather_kind
from ...coverage.planning import resolve_at
from ...errors import InvalidInput
from ...stations.coords import parse_crs, validate_lonlat
from ...stations.vocab import STATION_TYPES

MODES = tuple(config.SPEEDS_KMH)
ENGINES = ("straight", "network")
REPORT_MINUTES = (5.0, 10.0, 15.0)
MAX_THRESHOLDS = 12
MAX_CANDIDATES = 5000
MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class Field:
    name: str
    parse: Callable[[Any], Any]
    default: Any = None


def json_body() -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(f"the body must be JSON (Content-Type: application/json); "
                                   f"got {request.mimetype or 'none'!s}")
    raw = request.get_data(cache=False)  # 413 beyond MAX_CONTENT_LENGTH
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidInput(f"body: not valid JSON ({e}); send a JSON object", field="body") \
            from None
    if not isinstance(body, dict):
        raise InvalidInput(f"body: a JSON {type(body).__name__} where an object is required",
                           field="body")
    return body


def parse_body(body: dict[str, Any], fields: Sequence[Field]) -> dict[str, Any]:
    known = {f.name: f for f in fields}
    unknown = sorted(k for k in body if k not in known)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: "
                           f"{', '.join(known)}", field=unknown[0])
    out = {}
    for f in fields:
        v = body.get(f.name)
        if v is None:
            out[f.name] = f.default
            continue
        try:
            out[f.name] = f.parse(v)
        except InvalidInput as e:
            msg = e.message if e.message.startswith(f.name) else f"{f.name}: {e.message}"
            raise InvalidInput(msg, field=e.field if e.field and e.field.startswith(f.name)
                               else f.name) from None
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(lo: float, hi: float, what: str = "") -> Callable[[Any], float]:
    def parse(v: Any) -> float:
        if not _is_number(v) or not math.isfinite(v):
            raise InvalidInput(f"{v!r} is not a number; allowed {lo:g}..{hi:g}{what}")
        if not lo <= v <= hi:
            raise InvalidInput(f"{v!r} is out of range; allowed {lo:g}..{hi:g}{what}")
        return float(v)
    return parse


def _integer(lo: int, hi: int) -> Callable[[Any], int]:
    def parse(v: Any) -> int:
        if not _is_number(v) or v != int(v) or not lo <= v <= hi:
            raise InvalidInput(f"{v!r} is not an integer in {lo}..{hi}")
        return int(v)
    return parse


def _grid_spacing(v: Any) -> float:
    if not _is_number(v) or not math.isfinite(v) or not (v == 0 or 50 <= v <= 50_000):
        raise InvalidInput(f"{v!r} is not a grid spacing; allowed 0 (one point per gap) or "
                           "50..50000 metres")
    return float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise InvalidInput(f"{v!r} is not a boolean; allowed: true, false")
    return v


def _str_choice(*allowed: str) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        if not isinstance(v, str) or v.strip().lower() not in allowed:
            raise InvalidInput(f"{v!r} is not allowed; allowed: {', '.join(allowed)}")
        return v.strip().lower()
    return parse


def _mode(v: Any) -> str:
    if not isinstance(v, str):
        raise InvalidInput(f"mode: {v!r} is not a travel mode; allowed: {', '.join(MODES)}")
    return check_mode(v)


def _one_minutes(v: Any) -> float:
    if not _is_number(v):
        raise InvalidInput(f"minutes: {v!r} is not a number of minutes; allowed (0, 120]",
                           field="minutes")
    return check_minutes(v)


def _minutes_list(v: Any) -> tuple[float, ...]:
    items = v if isinstance(v, list) else [v]
    if not 1 <= len(items) <= MAX_THRESHOLDS:
        raise InvalidInput(f"minutes: give 1..{MAX_THRESHOLDS} thresholds", field="minutes")
    return tuple(sorted({_one_minutes(m) for m in items}))


def _at(v: Any) -> datetime:
    if not isinstance(v, str) or len(v) > 64:
        raise InvalidInput(f"at: {v!r} is not an ISO 8601 date-time or 'now'", field="at")
    when = resolve_at(v)
    if when is None:
        raise InvalidInput("at: an empty time; leave 'at' out to ignore opening hours, or "
                           "give an ISO 8601 date-time or 'now'", field="at")
    return when


def _types(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not 1 <= len(v) <= 20 or not all(isinstance(x, str)
                                                                    for x in v):
        raise InvalidInput("types: a list of 1..20 station type codes", field="types")
    return tuple(STATION_TYPES.parse(x, field="types") for x in v)


def _weather(v: Any) -> str:
    if not isinstance(v, str):
        raise InvalidInput(f"weather: {v!r} is not an alert kind; allowed: heat, cold",
                           field="weather")
    return weather_kind(v)


def _crs(v: Any) -> str:
    if not isinstance(v, str):
        raise InvalidInput(f"crs: {v!r}; allowed: wgs84, gcj02, bd09", field="crs")
    return parse_crs(v)


def _candidate_items(v: Any) -> list[dict[str, Any]]:
    if not isinstance(v, list) or not 1 <= len(v) <= MAX_CANDIDATES:
        raise InvalidInput(f"candidates: a list of 1..{MAX_CANDIDATES} objects "
                           "{id, lon, lat[, crs]}", field="candidates")
    for i, c in enumerate(v):
        where = f"candidates[{i}]"
        if not isinstance(c, dict):
            raise InvalidInput(f"{where}: an object {{id, lon, lat[, crs]}} is required",
                               field=where)
        extra = sorted(set(c) - {"id", "lon", "lat", "crs"})
        if extra:
            raise InvalidInput(f"{where}: unknown field(s) {', '.join(map(repr, extra))}; "
                               "allowed: id, lon, lat, crs", field=f"{where}.{extra[0]}")
        cid = c.get("id")
        if not isinstance(cid, (str, int)) or isinstance(cid, bool) or \
                not 1 <= len(str(cid)) <= 64:
            raise InvalidInput(f"{where}.id: a string of 1..64 characters is required",
                               field=f"{where}.id")
        for axis in ("lon", "lat"):
            if not _is_number(c.get(axis)):
                raise InvalidInput(f"{where}.{axis}: {c.get(axis)!r} is not a number",
                                   field=f"{where}.{axis}")
    return v


def candidates_of(items: list[dict[str, Any]], crs: str) -> Candidates:
    ids, lon, lat = [], [], []
    for i, c in enumerate(items):
        x, y = validate_lonlat(c["lon"], c["lat"], crs=_crs(c["crs"]) if "crs" in c else crs,
                               field_prefix=f"candidates[{i}].")
        ids.append(str(c["id"]))
        lon.append(x)
        lat.append(y)
    try:
        return Candidates(np.asarray(ids, dtype=object), np.asarray(lon), np.asarray(lat),
                          "request")
    except InvalidInput as e:
        raise InvalidInput(e.message, field="candidates") from None


def _wait(v: Any) -> float:
    return _number(0, MAX_WAIT_S, " seconds")(v)


def _common_fields(minutes: Field) -> list[Field]:
    return [Field("mode", _mode, "walk"), minutes,
            Field("speed_kmh", _number(0.1, 60, " km/h")),
            Field("detour", _number(1, 3)),
            Field("engine", _str_choice(*ENGINES), "straight"),
            Field("at", _at), Field("types", _types), Field("weather", _weather),
            Field("wait", _wait)]


COVERAGE_FIELDS = _common_fields(Field("minutes", _minutes_list, REPORT_MINUTES)) + [
    Field("gaps", _bool, False), Field("gap_limit", _integer(1, 1000), 20),
    Field("geometry", _bool, False)]
def _zone_weights(v: Any) -> list[float]:
    if not isinstance(v, list) or not 1 <= len(v) <= 10 or not all(_is_number(x) for x in v):
        raise InvalidInput("weights: a list of 1..10 zone weights in 0.001..1, nearest zone "
                           "first", field="weights")
    return [float(x) for x in v]


ACCESS_FIELDS = _common_fields(Field("minutes", _one_minutes, 15.0)) + [
    Field("method", _str_choice("e2sfca", "2sfca"), "e2sfca"),
    Field("weights", _zone_weights), Field("default_capacity", _integer(1, 10_000)),
    Field("crowded", _integer(0, 100), 10)]
def _day(v: Any) -> Any:
    from ...coverage.profile import parse_day

    if not isinstance(v, str):
        raise InvalidInput(f"day: {v!r} is not a date; give YYYY-MM-DD", field="day")
    return parse_day(v)


def _demand_profile(v: Any) -> Any:
    from ...coverage.profile import demand_multipliers

    if not isinstance(v, (str, list)):
        raise InvalidInput("profile: a profile name or a list of 24 multipliers",
                           field="profile")
    demand_multipliers(v)  # checked here: a 400, not a failed job
    return v


def _scenario_items(v: Any) -> list[Any]:
    from ...coverage.scenario import Scenario

    if not isinstance(v, list) or not 1 <= len(v) <= MAX_SCENARIOS:
        raise InvalidInput(f"scenarios: a list of 1..{MAX_SCENARIOS} scenarios",
                           field="scenarios")
    out = []
    for i, item in enumerate(v):
        try:
            out.append(Scenario.from_dict(item, name=f"scenario {i + 1}"))
        except InvalidInput as e:
            where = f"scenarios[{i}]"
            raise InvalidInput(f"{where}.{e.message}", field=f"{where}.{e.field or ''}"
                               .rstrip(".")) from None
    return out


#: Scenarios one request may compare with the base.
MAX_SCENARIOS = 10
_NO_AT = [f for f in _common_fields(Field("minutes", _one_minutes, 15.0)) if f.name != "at"]
PROFILE_FIELDS = [*_NO_AT, Field("day", _day), Field("profile", _demand_profile),
                  Field("rule", _str_choice("start", "whole_hour"), "start"),
                  Field("rows", _bool, False)]
SCENARIO_FIELDS = _common_fields(Field("minutes", _minutes_list, REPORT_MINUTES)) + [
    Field("scenarios", _scenario_items), Field("units", _bool, False)]
def _target(v: Any) -> float:
    from ...coverage.lscp import parse_target

    if not isinstance(v, (str, int, float)) or isinstance(v, bool):
        raise InvalidInput(f"target: {v!r} is not a share; give 0.95 or '95%'", field="target")
    return parse_target(v)


TARGET_FIELDS = _common_fields(Field("minutes", _one_minutes, 15.0)) + [
    Field("target", _target, 1.0), Field("backup", _bool, False),
    Field("method", _str_choice("auto", "exact", "greedy"), "auto"),
    Field("candidates", _candidate_items),
    Field("candidates_from", _str_choice("uncovered", "gaps"), "uncovered"),
    Field("grid_spacing_m", _grid_spacing, 500.0), Field("crs", _crs, "wgs84")]
SUGGEST_FIELDS = _common_fields(Field("minutes", _one_minutes, 15.0)) + [
    Field("n", _integer(1, 100), 5), Field("beta", _number(0, 1)),
    Field("exact", _bool), Field("candidates", _candidate_items),
    Field("from_gaps", _bool, False), Field("from_nodes", _bool, False),
    Field("spacing_m", _number(10, 10_000, " metres"), 250.0),
    Field("grid_spacing_m", _grid_spacing, 500.0), Field("crs", _crs, "wgs84")]

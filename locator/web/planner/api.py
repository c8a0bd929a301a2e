"""The planner's JSON API.

``POST /api/v1/coverage``, ``POST /api/v1/suggest``
    JSON bodies, validated strictly (:mod:`.planner_body`). Every POST runs as a job
    (:mod:`.jobs`). The request waits up to ``wait`` seconds (body field; default
    ``LOCATOR_PLANNER_WAIT``, 2 s; ``0`` never waits): a run that finishes in time is
    answered directly (200 with the result, or the 400 problem of a failed run); a
    longer one is answered ``202 Accepted`` with ``{"id", "status"}`` and a
    ``Location: /api/v1/jobs/<id>`` header to poll. Beyond ``LOCATOR_PLANNER_QUEUE``
    jobs queued or running the answer is 429 with ``Retry-After``.
    Runs are shared through the database (:mod:`.share`, :mod:`.jobs`): a run any
    process has finished on the same inputs (parameters, counted stations, demand and
    districts, engine) is answered from its stored result, the same bytes; one still
    queued or running anywhere is waited for (its id in the 202) instead of started
    again. ``X-Planner-Run: computed | stored | joined`` says which, and
    ``X-Planner-Job`` names the run's job.
``GET /api/v1/jobs/<id>``
    ``{"id", "kind", "status": "queued"|"running"|"done"|"failed", "result", "error"}``,
    from any process of the app (job records are kept in the database).
``GET /api/v1/reach?id=...&point=lon,lat&minutes=15&mode=walk&engine=straight``
    Where each given station (or point: a candidate or suggested site, in ``crs``) is
    reached from within ``minutes``: road-network
    isochrones (engine ``network``, with the OpenStreetMap attribution) or circles of
    the straight-line radius on the engine's sphere, as GeoJSON, in the ``crs`` asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request

from ... import config
from ...coverage import check_minutes
from ...coverage.isochrones import reach_areas
from ...coverage.planning import RunSpec, access_run, capacities_of, coverage_run, suggest_run
from ...coverage.report_map import geojson_in_crs
from ...errors import InvalidInput, NotFound
from ...stations.coords import parse_crs, validate_lonlat
from ...stations.vocab import STATION_TYPES
from ...store.files import SAMPLE_NOTICE
from .. import get_registry
from ..i18n import current_lang
from ..params import Param, choice, number, parse_args
from .body import (
    ACCESS_FIELDS,
    COVERAGE_FIELDS,
    ENGINES,
    MAX_CANDIDATES,
    MAX_THRESHOLDS,
    MAX_WAIT_S,
    MODES,
    PROFILE_FIELDS,
    REPORT_MINUTES,
    SCENARIO_FIELDS,
    SUGGEST_FIELDS,
    TARGET_FIELDS,
    candidates_of,
    json_body,
    parse_body,
)
from .jobs import raise_failure
from .page import make_engine, planner_state, run_spec
from .share import network_identity, run_key, stations_identity

bp = Blueprint("planner_api", __name__)

#: Stations per reach request.
MAX_REACH_STATIONS = 20
_OSM = config.OSM_CREDIT


def _spec_of(a: dict[str, Any]) -> RunSpec:
    return run_spec(mode=a["mode"], engine=a["engine"], at=a["at"], types=a["types"],
                    speed_kmh=a["speed_kmh"], detour=a["detour"], weather=a["weather"])


def _answer(kind: str, fn: Callable[[], dict[str, Any]], wait: float | None, *,
            key: str | None) -> Response:
    st = planner_state()
    job = st.jobs.submit(kind, fn, key=key)
    if st.jobs.wait(job, st.wait_s if wait is None else wait):
        if job.status == "failed":
            raise_failure(job)
        # The stored bytes, whoever computed them: a reused answer is the same answer.
        resp = Response(job.body, mimetype="application/json")
    else:
        location = f"/api/v1/jobs/{job.id}"
        resp = jsonify({"id": job.id, "kind": kind, "status": job.status,
                        "location": location})
        resp.status_code = 202
        resp.headers["Location"] = location
        resp.headers["Retry-After"] = "1"
    resp.headers["X-Planner-Job"] = job.id
    resp.headers["X-Planner-Run"] = job.origin
    return resp


def _key(kind: str, spec: RunSpec, a: dict[str, Any], params: dict[str, Any]) -> str | None:
    """The run's shared key (:mod:`.share`), or None when it cannot be shared."""
    st = planner_state()
    if not st.share:
        return None
    engine: dict[str, Any] = {"engine": a["engine"], "mode": a["mode"],
                              "speed_kmh": a["speed_kmh"], "detour": a["detour"]}
    if a["engine"] == "network":
        network = network_identity(current_app.extensions.get("locator.network_engine"),
                                   current_app.config.get("LOCATOR_PBF") or None)
        if network is None:
            return None
        engine["network"] = network
    return run_key(kind, params, engine=engine, data=st.data_id(),
                   stations=stations_identity(spec.stations, sample=spec.sample))


@bp.post("/api/v1/coverage")
def api_coverage():
    a = parse_body(json_body(), COVERAGE_FIELDS)
    spec = _spec_of(a)
    data = planner_state().data()
    minutes, gaps, limit, geometry = a["minutes"], a["gaps"], a["gap_limit"], a["geometry"]
    # Gap figures only matter when gaps are asked for.
    params = {"minutes": list(minutes), "gaps": gaps,
              "gap_limit": limit if gaps else None, "geometry": geometry if gaps else None}
    return _answer("coverage", lambda: coverage_run(spec, data, minutes, gaps=gaps,
                                                    gap_limit=limit, geometry=geometry),
                   a["wait"], key=_key("coverage", spec, a, params))


@bp.post("/api/v1/suggest")
def api_suggest():
    a = parse_body(json_body(), SUGGEST_FIELDS)
    if (a["candidates"] is not None) + a["from_gaps"] + a["from_nodes"] != 1:
        raise InvalidInput("candidates: give one of 'candidates' (a list of {id, lon, lat}), "
                           "'from_gaps': true or 'from_nodes': true", field="candidates")
    if a["from_nodes"] and a["engine"] != "network":
        raise InvalidInput("from_nodes: road nodes as candidates need 'engine': 'network'",
                           field="from_nodes")
    cands = None if a["candidates"] is None else candidates_of(a["candidates"], a["crs"])
    if cands is not None and a["n"] > len(cands):
        raise InvalidInput(f"n: {a['n']} is more than the {len(cands)} candidate sites; allowed "
                           f"1..{len(cands)}", field="n")
    spec = _spec_of(a)
    data = planner_state().data()
    minutes, n, exact = a["minutes"], a["n"], a["exact"]
    beta = 0.0 if a["beta"] is None else a["beta"]
    spacing = a["spacing_m"] if a["from_nodes"] else None
    grid = a["grid_spacing_m"] if a["from_gaps"] else None
    lang = current_lang()  # read here: the run may go on in a job's thread
    params = {"minutes": minutes, "n": n, "beta": beta, "exact": exact,
              "node_spacing_m": spacing, "from_gaps": bool(a["from_gaps"]),
              "grid_spacing_m": grid,
              "candidates": None if cands is None else {
                  "ids": [str(i) for i in cands.ids], "lon": cands.lon, "lat": cands.lat,
                  "source": cands.source}}
    return _answer("suggest", lambda: suggest_run(spec, data, minutes, n=n, beta=beta,
                                                  exact=exact, candidates=cands,
                                                  node_spacing_m=spacing, spacing_m=grid,
                                                  lang=lang), a["wait"],
                   key=_key("suggest", spec, a, params))


@bp.post("/api/v1/access")
def api_access():
    a = parse_body(json_body(), ACCESS_FIELDS)
    spec = _spec_of(a)
    data = planner_state().data()
    kw = {"method": a["method"].strip().lower(), "weights": a["weights"],
          "default_capacity": a["default_capacity"], "crowded": a["crowded"]}
    # Capacities are part of the stations' records: check them now (a 400, not a
    # failed job), and key the shared run on them.
    capacities_of(spec.records, kw["default_capacity"])
    params = {"minutes": a["minutes"], **kw,
              "capacity": [[s.id, getattr(s, "capacity", None)] for s in spec.records]}
    minutes = a["minutes"]
    return _answer("access", lambda: access_run(spec, data, minutes, **kw), a["wait"],
                   key=_key("access", spec, a, params))


@bp.post("/api/v1/profile")
def api_profile():
    """The 24-hour coverage profile of a day (each hour's stations, at HH:00 or for
    the whole hour), city-wide and by district, with the night gaps."""
    from ...coverage.profile import profile_run

    a = parse_body(json_body(), PROFILE_FIELDS)
    if a["day"] is None:
        raise InvalidInput("day: required; give the day of the profile as YYYY-MM-DD "
                           "(a weekday, a weekend day or a public holiday)", field="day")
    spec = _spec_of({**a, "at": None})
    data = planner_state().data()
    minutes, day, prof, rule, rows = a["minutes"], a["day"], a["profile"], a["rule"], a["rows"]
    params = {"minutes": minutes, "day": day.isoformat(), "profile": prof, "rule": rule,
              "rows": rows}
    return _answer("profile", lambda: profile_run(spec, data, minutes, day, profile=prof,
                                                  rule=rule, with_rows=rows), a["wait"],
                   key=_key("profile", spec, a, params))


@bp.post("/api/v1/scenarios")
def api_scenarios():
    """Base against each scenario (stations added, closed, removed, hours or capacity
    changed): the change by threshold and district, the demand that gains and loses."""
    from ...coverage.scenario import scenario_run

    a = parse_body(json_body(), SCENARIO_FIELDS)
    if not a["scenarios"]:
        raise InvalidInput("scenarios: required; give 1..10 scenarios (name, add, close, "
                           "remove, change)", field="scenarios")
    records = get_registry().index.stations()
    scenarios = a["scenarios"]
    for i, sc in enumerate(scenarios):
        try:
            sc.check(records)  # unknown stations: a 400 now, not a failed job
        except InvalidInput as e:
            raise InvalidInput(f"scenarios[{i}].{e.message}",
                               field=f"scenarios[{i}].{e.field or ''}".rstrip(".")) from None
    spec = _spec_of(a)
    data = planner_state().data()
    make = make_engine(a["engine"], a["mode"], a["speed_kmh"], a["detour"])
    minutes, at, units = a["minutes"], a["at"], a["units"]
    types, weather = a["types"], a["weather"]
    params = {"minutes": list(minutes), "units": units,
              "scenarios": [sc.to_dict() for sc in scenarios]}
    return _answer("scenarios", lambda: scenario_run(
        make, records, data, minutes, scenarios, at=at, types=types,
        weather=weather).to_dict(units=units), a["wait"],
        key=_key("scenarios", spec, a, params))


@bp.post("/api/v1/target")
def api_target():
    """The fewest new sites that bring coverage to a target share (LSCP), exact or
    greedy with its gap; an infeasible target says how close the best is."""
    from ...coverage.planning import EXACT_TIME_LIMIT_S, target_run

    a = parse_body(json_body(), TARGET_FIELDS)
    cands = None if a["candidates"] is None else candidates_of(a["candidates"], a["crs"])
    spec = _spec_of(a)
    data = planner_state().data()
    lang = current_lang()  # read here: the run may go on in a job's thread
    minutes, target, backup, method = a["minutes"], a["target"], a["backup"], a["method"]
    source, grid = a["candidates_from"], a["grid_spacing_m"]
    params = {"minutes": minutes, "target": target, "backup": backup, "method": method,
              "candidates_from": source, "grid_spacing_m": grid,
              "candidates": None if cands is None else {
                  "ids": [str(i) for i in cands.ids], "lon": cands.lon, "lat": cands.lat}}
    return _answer("target", lambda: target_run(
        spec, data, minutes, target=target, backup=backup, method=method, candidates=cands,
        candidates_from=source, grid_spacing_m=grid, time_limit=EXACT_TIME_LIMIT_S,
        lang=lang), a["wait"], key=_key("target", spec, a, params))


@bp.get("/api/v1/jobs/<job_id>")
def api_job(job_id: str):
    parse_args(request.args, [])
    job = planner_state().jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id!r} does not exist (finished jobs are kept "
                       f"{planner_state().jobs.ttl:g} s)")
    resp = jsonify(job)
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --------------------------------------------------------------------------- reach areas


def _station_id(v: str) -> str:
    v = v.strip()
    if not v:
        raise InvalidInput("an empty station id")
    return v


def _point(v: str) -> tuple[str, str]:
    parts = v.split(",")
    if len(parts) != 2:
        raise InvalidInput(f"{v!r} is not 'lon,lat'")
    return parts[0].strip(), parts[1].strip()


REACH_PARAMS = [
    Param("id", _station_id, repeat=True),
    Param("point", _point, repeat=True),
    Param("minutes", check_minutes, default=15.0),
    Param("mode", choice(*MODES), default="walk"),
    Param("engine", choice(*ENGINES), default="straight"),
    Param("speed_kmh", number(0.1, 60)),
    Param("crs", parse_crs, default="wgs84"),
    Param("lang", choice("zh", "en"), default="zh"),
]


def _places(a: dict[str, Any]) -> list[dict[str, Any]]:
    """The stations (``id``) and points (``point``, in ``crs``) asked for, in WGS-84."""
    ids = list(dict.fromkeys(a["id"]))
    if not 1 <= len(ids) + len(a["point"]) <= MAX_REACH_STATIONS:
        raise InvalidInput(f"id: give 1..{MAX_REACH_STATIONS} station ids or points (repeat "
                           "'id' or 'point')", field="id")
    index = get_registry().index
    places = []
    for sid in ids:
        try:
            s = index.get(sid)
        except NotFound:
            raise NotFound(f"station {sid!r} does not exist") from None
        places.append({"id": s.id, "name": s.name, "lon": s.lon, "lat": s.lat,
                       "sample": s.is_sample})
    for i, (x, y) in enumerate(a["point"], start=1):
        lon, lat = validate_lonlat(x, y, crs=a["crs"], field_prefix=f"point[{i}].")
        places.append({"id": f"point-{i}", "name": None, "lon": lon, "lat": lat,
                       "sample": False})
    return places


@bp.get("/api/v1/reach")
def api_reach():
    a = parse_args(request.args, REACH_PARAMS)
    places = _places(a)
    engine = make_engine(a["engine"], a["mode"], a["speed_kmh"], None)()
    lon = np.array([p["lon"] for p in places])
    lat = np.array([p["lat"] for p in places])
    areas = reach_areas(engine, lon, lat, a["minutes"])
    info = engine.describe()
    network = a["engine"] == "network"
    radius = getattr(engine, "radius_m", None)
    features = []
    for place, geom in zip(places, areas, strict=True):
        props: dict[str, Any] = {
            "id": place["id"], "name": place["name"], "minutes": a["minutes"],
            "mode": a["mode"], "engine": info.get("engine"),
            "kind": "isochrone" if network else "circle", "sample": place["sample"]}
        if not network and callable(radius):
            props["radius_m"] = round(radius(a["minutes"]), 1)
        if network:
            props["attribution"] = _OSM
        features.append({"type": "Feature", "properties": props,
                         "geometry": geojson_in_crs(geom, a["crs"], 6)})
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features,
                           "crs": a["crs"], "engine": info, "minutes": a["minutes"],
                           "illustrative": any(p["sample"] for p in places)}
    if network:
        out["attribution"] = _OSM
    if out["illustrative"]:
        out["stations_notice"] = SAMPLE_NOTICE
    resp = jsonify(out)
    resp.mimetype = "application/geo+json"
    return resp


# --------------------------------------------------------------------------- OpenAPI


def openapi_paths() -> dict[str, Any]:
    """OpenAPI 3.0 path items of the planner API, to merge into ``openapi.spec()``."""
    problem = {"description": "Problem details (RFC 9457)", "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    errs = {str(c): problem for c in (400, 413, 415, 429)}
    minutes = {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 120}
    common = {
        "mode": {"type": "string", "enum": list(MODES), "default": "walk"},
        "speed_kmh": {"type": "number", "description": "Default by mode; e-bikes at most 25."},
        "detour": {"type": "number", "minimum": 1, "maximum": 3,
                   "default": config.DETOUR_FACTOR, "description": "Straight-line engine."},
        "engine": {"type": "string", "enum": list(ENGINES), "default": "straight",
                   "description": "'network' only where a road network is configured."},
        "at": {"type": "string", "nullable": True, "description":
               "Count only stations open at this ISO 8601 time (naive = Asia/Shanghai) or "
               "'now'; absent/null ignores opening hours. Unknown hours count as open."},
        "types": {"type": "array", "items": {"type": "string",
                                            "enum": list(STATION_TYPES.codes)},
                  "minItems": 1, "maxItems": 20},
        "weather": {"type": "string", "enum": ["heat", "cold"], "nullable": True,
                    "description": "Alert-day coverage: count only stations with air "
                                   "conditioning and drinking water (heat) or heating "
                                   "(cold)."},
        "wait": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_S, "default": 2,
                 "description": "Seconds to wait for the answer; longer runs get 202."},
    }
    coverage_body: dict[str, Any]
    suggest_body: dict[str, Any]
    coverage_body = {"type": "object", "additionalProperties": False, "properties": {
        **common,
        "minutes": {"oneOf": [minutes, {"type": "array", "items": minutes, "minItems": 1,
                                        "maxItems": MAX_THRESHOLDS}],
                    "default": list(REPORT_MINUTES)},
        "gaps": {"type": "boolean", "default": False,
                 "description": "Also find the gaps at the largest threshold."},
        "gap_limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
        "geometry": {"type": "boolean", "default": False,
                     "description": "Include the gap polygons (GeoJSON)."}}}
    suggest_body = {"type": "object", "additionalProperties": False, "properties": {
        **common, "minutes": {**minutes, "default": 15},
        "n": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5},
        "beta": {"type": "number", "minimum": 0, "maximum": 1, "default": 0,
                 "description": "Weight of backup (second-station) coverage."},
        "exact": {"type": "boolean", "nullable": True,
                  "description": "Also solve exactly; default only for small problems."},
        "candidates": {"type": "array", "minItems": 1, "maxItems": MAX_CANDIDATES,
                       "items": {"type": "object", "additionalProperties": False,
                                 "required": ["id", "lon", "lat"], "properties": {
                                     "id": {"type": "string", "maxLength": 64},
                                     "lon": {"type": "number"}, "lat": {"type": "number"},
                                     "crs": {"type": "string",
                                             "enum": ["wgs84", "gcj02", "bd09"]}}}},
        "from_nodes": {"type": "boolean", "default": False,
                       "description": "Use road nodes within reach of uncovered demand, one "
                                      "per spacing_m (engine 'network')."},
        "spacing_m": {"type": "number", "minimum": 10, "maximum": 10000, "default": 250},
        "grid_spacing_m": {"oneOf": [{"type": "number", "enum": [0]},
                                     {"type": "number", "minimum": 50, "maximum": 50000}],
                           "default": 500,
                           "description": "With from_gaps: metres between the candidate "
                                          "points of the grid inside each gap (0: one point "
                                          "per gap; otherwise at least 50). On a road "
                                          "network road nodes within reach of the "
                                          "uncovered demand are added."},
        "from_gaps": {"type": "boolean", "default": False,
                      "description": "Use one candidate per gap instead of 'candidates'."},
        "crs": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84",
                "description": "CRS of the candidates."}}}
    # Every body field is optional, and null means "use the default" (parse_body).
    access_body: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                   "properties": {
        **common, "minutes": {**minutes, "default": 15},
        "method": {"type": "string", "enum": ["e2sfca", "2sfca"], "default": "e2sfca"},
        "weights": {"type": "array", "minItems": 1, "maxItems": 10,
                    "items": {"type": "number", "minimum": 0.001, "maximum": 1},
                    "description": "E2SFCA zone weights over equal parts of minutes, "
                                   "nearest first; default 1, 0.68, 0.22."},
        "default_capacity": {"type": "integer", "minimum": 1, "maximum": 10000,
                             "description": "Seats for stations with none recorded."},
        "crowded": {"type": "integer", "minimum": 0, "maximum": 100, "default": 10}}}
    no_at = {k: v for k, v in common.items() if k != "at"}
    profile_body: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                    "required": ["day"], "properties": {
        **no_at, "minutes": {**minutes, "default": 15},
        "day": {"type": "string", "format": "date",
                "description": "The day (YYYY-MM-DD): a weekday, a weekend day or a public "
                               "holiday; each hour counts the stations open then."},
        "profile": {"oneOf": [{"type": "string", "enum": ["uniform", "sanitation",
                                                          "delivery"]},
                              {"type": "array", "minItems": 24, "maxItems": 24,
                               "items": {"type": "number", "minimum": 0,
                                         "maximum": 1e6}}],
                    "description": "Demand by hour: a named profile (illustrative) or 24 "
                                   "multipliers, hour 0 first."},
        "rule": {"type": "string", "enum": ["start", "whole_hour"], "default": "start",
                 "description": "A station counts in an hour if open at HH:00 (start) or "
                                "for the whole hour."},
        "rows": {"type": "boolean", "default": False,
                 "description": "Add the table's rows (hour x city/district)."}}}
    station_add = {"type": "object", "required": ["id", "lon", "lat"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"},
        "lon": {"type": "number"}, "lat": {"type": "number"},
        "opening_hours": {"type": "string"},
        "capacity": {"type": "integer", "minimum": 1, "maximum": 10000}}}
    scenario = {"type": "object", "properties": {
        "name": {"type": "string"}, "description": {"type": "string"},
        "crs": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"]},
        "add": {"type": "array", "items": station_add},
        "add_defaults": {"type": "object"},
        "close": {"type": "array", "items": {"type": "string"}},
        "remove": {"type": "array", "items": {"type": "string"}},
        "change": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "opening_hours": {"type": "string"},
            "capacity": {"type": "integer", "minimum": 1, "maximum": 10000}}}}}}
    scenarios_body: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                      "required": ["scenarios"], "properties": {
        **common,
        "minutes": {"oneOf": [minutes, {"type": "array", "items": minutes, "minItems": 1,
                                        "maxItems": MAX_THRESHOLDS}],
                    "default": list(REPORT_MINUTES)},
        "scenarios": {"type": "array", "minItems": 1, "maxItems": 10, "items": scenario,
                      "description": "Named scenarios on top of the current stations "
                                     "(the JSON form of `locator scenario` files)."},
        "units": {"type": "boolean", "default": False,
                  "description": "List the demand units that gain and lose coverage."}}}
    target_body: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                   "properties": {
        **common, "minutes": {**minutes, "default": 15},
        "target": {"oneOf": [{"type": "number", "exclusiveMinimum": True, "minimum": 0,
                              "maximum": 1},
                             {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[%％]\s*$"}],
                   "default": 1,
                   "description": "Share of demand to reach: 1 (100%), 0.95 or '95%'."},
        "backup": {"type": "boolean", "default": False,
                   "description": "Cross-coverage: count a unit only when reached twice."},
        "method": {"type": "string", "enum": ["auto", "exact", "greedy"], "default": "auto"},
        "candidates": suggest_body["properties"]["candidates"],
        "candidates_from": {"type": "string", "enum": ["uncovered", "gaps"],
                            "default": "uncovered",
                            "description": "Without candidates: a site at every unit still "
                                           "short of its reach, or a grid in the gaps."},
        "grid_spacing_m": suggest_body["properties"]["grid_spacing_m"],
        "crs": suggest_body["properties"]["crs"]}}
    for body in (coverage_body, suggest_body, access_body, profile_body, scenarios_body,
                 target_body):
        for name, prop in list(body["properties"].items()):
            if "enum" in prop:  # a nullable enum must list null itself
                prop = body["properties"][name] = {**prop, "enum": [*prop["enum"], None]}
            prop["nullable"] = True
    accepted = {"description": "Still running: poll the Location", "headers": {
        "Location": {"schema": {"type": "string"}}}, "content": {"application/json": {
            "schema": {"type": "object", "required": ["id", "status", "location"],
                       "properties": {"id": {"type": "string"}, "status": {"type": "string"},
                                      "location": {"type": "string"}}}}}}

    def post(op: str, summary: str, body: dict[str, Any], result: str) -> dict[str, Any]:
        return {"post": {"operationId": op, "summary": summary,
                         "requestBody": {"required": True, "content": {
                             "application/json": {"schema": body}}},
                         "responses": {"200": {"description": result, "content": {
                             "application/json": {"schema": {"type": "object", "required": [
                                 "illustrative"], "properties": {
                                 "illustrative": {"type": "boolean"}}}}}},
                             "202": accepted, **errs}}}

    return {
        "/api/v1/coverage": post(
            "coverage", "Covered share of demand by district, cross-coverage, gaps",
            coverage_body, "Coverage figures per threshold (as CoverageReport.to_dict)"),
        "/api/v1/suggest": post(
            "suggest", "The n candidate sites that add the most covered demand",
            suggest_body, "Chosen sites and the siting result"),
        "/api/v1/access": post(
            "access", "Capacity-aware access (2SFCA/E2SFCA) by district, with its equity",
            access_body, "Access per district and city, equity indices, crowded stations"),
        "/api/v1/profile": post(
            "profile", "The 24-hour coverage profile of a day, city-wide and by district",
            profile_body, "Each hour's stations and coverage, the night gaps"),
        "/api/v1/scenarios": post(
            "scenarios", "Base against scenarios: stations added, closed, removed, changed",
            scenarios_body, "The change by threshold and district, gains and losses"),
        "/api/v1/target": post(
            "target", "The fewest new sites that bring coverage to a target share (LSCP)",
            target_body, "The sites, the share reached, exact or greedy and its gap"),
        "/api/v1/jobs/{id}": {"get": {
            "operationId": "getJob", "summary": "A planner run's status and result",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The job", "content": {"application/json": {
                "schema": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "string"}, "kind": {"type": "string"},
                    "status": {"type": "string",
                               "enum": ["queued", "running", "done", "failed"]},
                    "result": {"type": "object", "nullable": True},
                    "error": {"type": "object", "nullable": True}}}}}},
                "404": problem, "429": problem}}},
        "/api/v1/reach": {"get": {
            "operationId": "reach",
            "summary": "Where stations are reached from within a time: isochrones or circles",
            "parameters": [
                {"name": "id", "in": "query", "style": "form",
                 "explode": True, "description": f"Station ids, 1..{MAX_REACH_STATIONS}.",
                 "schema": {"type": "array", "maxItems": MAX_REACH_STATIONS,
                            "items": {"type": "string", "minLength": 1, "maxLength": 64}}},
                {"name": "point", "in": "query", "style": "form", "explode": True,
                 "description": "Points 'lon,lat' in crs (e.g. suggested sites).",
                 "schema": {"type": "array", "maxItems": MAX_REACH_STATIONS,
                            "items": {"type": "string", "maxLength": 60}}},
                {"name": "minutes", "in": "query", "schema": {**minutes, "default": 15}},
                {"name": "mode", "in": "query",
                 "schema": {"type": "string", "enum": list(MODES), "default": "walk"}},
                {"name": "engine", "in": "query",
                 "schema": {"type": "string", "enum": list(ENGINES), "default": "straight"}},
                {"name": "speed_kmh", "in": "query",
                 "schema": {"type": "number", "minimum": 0.1, "maximum": 60}},
                {"name": "crs", "in": "query", "schema": {
                    "type": "string", "enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84"}},
                {"name": "lang", "in": "query",
                 "schema": {"type": "string", "enum": ["zh", "en"], "default": "zh"}}],
            "responses": {"200": {"description": "GeoJSON FeatureCollection, one feature "
                                                 "per station", "content": {
                "application/geo+json": {"schema": {
                    "type": "object", "required": ["type", "features"], "properties": {
                        "type": {"type": "string"},
                        "features": {"type": "array", "items": {"type": "object"}}}}}}},
                "400": problem, "404": problem, "429": problem}}},
    }

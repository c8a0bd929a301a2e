"""The planner: coverage of the 15-minute service circle, for union staff.

Routes
------
``GET /planner``
    The page: mode, minutes, engine and "coverage at" time; the map, the district
    table and charts (the report's own macros), gaps and suggested sites, and a link
    to download the report.
``GET /planner/report.html``
    The same run as a self-contained HTML report, as an attachment.
``POST /api/v1/coverage``, ``POST /api/v1/suggest``
    JSON bodies, validated strictly (unknown fields refused; every error names its
    field). See :func:`openapi_paths` for the fields.
``GET /api/v1/jobs/<id>``
    ``{"id", "kind", "status": "queued"|"running"|"done"|"failed", "result", "error"}``.

Jobs
----
Every POST runs as a job in a small in-process thread pool
(:class:`concurrent.futures.ThreadPoolExecutor`, ``LOCATOR_PLANNER_WORKERS`` threads).
The request waits up to ``wait`` seconds (body field; default
``LOCATOR_PLANNER_WAIT``, 2 s; ``0`` never waits): a run that finishes in time is
answered directly (200 with the result, or the 400 problem of a failed run); a longer
one is answered ``202 Accepted`` with ``{"id", "status"}`` and a
``Location: /api/v1/jobs/<id>`` header to poll. At most ``LOCATOR_PLANNER_QUEUE``
jobs may be queued or running; beyond that the answer is 429 with ``Retry-After``.
Finished jobs are kept ``LOCATOR_PLANNER_JOB_TTL`` seconds (and at most
:data:`MAX_KEPT_JOBS`), then their ids answer 404.

Configuration (``app.config``; all optional)
--------------------------------------------
``LOCATOR_DEMAND``: demand file (CSV/GeoJSON/GeoTIFF, see ``read_demand``); default the
shipped ILLUSTRATIVE Xuzhou layer. ``LOCATOR_DISTRICTS``: district boundaries
(GeoJSON with ``adcode``, ``name``, ``name_en``); default the shipped Xuzhou districts.
``LOCATOR_PLANNER_WORKERS`` (2), ``LOCATOR_PLANNER_QUEUE`` (8),
``LOCATOR_PLANNER_JOB_TTL`` (600 s), ``LOCATOR_PLANNER_WAIT`` (2 s).

Road network hook: put a factory in ``app.extensions["locator.network_engine"]``,
called as ``factory(mode, speed_kmh=None)`` and returning a
:class:`~locator.coverage.TravelEngine`; the page then enables "road network" and the
API accepts ``"engine": "network"``.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import ServiceUnavailable, UnsupportedMediaType

from .. import config
from ..coords import parse_crs, validate_lonlat
from ..coverage import (Candidates, Demand, Districts, StraightLineEngine, TravelEngine,
                        build_siting_problem, candidates_from_gaps, check_minutes,
                        check_mode, coverage_report, find_gaps, select_stations,
                        suggest_sites)
from ..errors import InvalidInput, LocatorError, NotFound
from ..io import SAMPLE_NOTICE
from ..time_util import now, parse_when
from ..vocab import STATION_TYPES
from . import get_registry
from .i18n import current_lang, gettext as _
from .params import Param, choice, integer, parse_args, text
from .security import TooManyRequests

log = logging.getLogger(__name__)
bp = Blueprint("planner", __name__)

MODES = tuple(config.SPEEDS_KMH)
ENGINES = ("straight", "network")
REPORT_MINUTES = (5.0, 10.0, 15.0)
MAX_THRESHOLDS = 12
MAX_CANDIDATES = 5000
MAX_KEPT_JOBS = 256
MAX_WAIT_S = 30.0
EXACT_TIME_LIMIT_S = 20.0
_ATTRIBUTION = {"basemap_osm": "© OpenStreetMap contributors "
                               "(https://www.openstreetmap.org/copyright)"}


# --------------------------------------------------------------------------- jobs


class Job:
    """One run in the pool. ``status`` moves queued -> running -> done | failed."""

    def __init__(self, kind: str):
        self.id = secrets.token_hex(12)
        self.kind = kind
        self.status = "queued"
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.exc: BaseException | None = None
        self.created = time.time()
        self.finished: float | None = None
        self.future: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status,
                "result": self.result, "error": self.error,
                "created": _iso(self.created), "finished": _iso(self.finished)}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat(
        timespec="seconds")


def _problem_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, InvalidInput):
        return {"status": 400, "title": "Invalid parameter", "detail": str(exc),
                "invalid_params": [{"name": exc.field or "request", "reason": exc.message}]}
    if isinstance(exc, LocatorError):
        return {"status": 400, "title": "Bad Request", "detail": str(exc)}
    return {"status": 500, "title": "Internal Server Error",
            "detail": "unexpected error; it has been logged"}


class JobManager:
    """A bounded thread pool with job records kept for ``ttl`` seconds after they end.

    Job records are only changed under ``_lock``; a job's fields are written by its
    worker before ``status`` turns done/failed, so a reader that sees a final status
    also sees the result.
    """

    def __init__(self, *, workers: int = 2, max_pending: int = 8, ttl: float = 600.0):
        self.workers = max(1, int(workers))
        self.max_pending = max(1, int(max_pending))
        self.ttl = float(ttl)
        self._pool = ThreadPoolExecutor(max_workers=self.workers,
                                        thread_name_prefix="planner-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, kind: str, fn: Callable[[], dict[str, Any]]) -> Job:
        """Queue ``fn``; raises 429 when ``max_pending`` jobs are queued or running."""
        job = Job(kind)
        with self._lock:
            self._prune()
            pending = sum(1 for j in self._jobs.values() if j.status in ("queued", "running"))
            if pending >= self.max_pending:
                err = TooManyRequests(5)
                err.description = (f"the planner is busy ({pending} runs queued or running, "
                                   f"at most {self.max_pending}); retry later")
                raise err
            self._jobs[job.id] = job
            job.future = self._pool.submit(self._run, job, fn)
        return job

    def _run(self, job: Job, fn: Callable[[], dict[str, Any]]) -> None:
        job.status = "running"
        try:
            result = fn()
        except BaseException as e:  # noqa: BLE001 - every failure is recorded
            if not isinstance(e, LocatorError):
                log.exception("planner job %s (%s) failed", job.id, job.kind)
            job.exc, job.error = e, _problem_of(e)
            job.finished = time.time()
            job.status = "failed"
            return
        job.result = result
        job.finished = time.time()
        job.status = "done"

    def wait(self, job: Job, seconds: float) -> bool:
        """Wait up to ``seconds`` for ``job``; True if it has ended."""
        if seconds > 0:
            wait_futures([job.future], timeout=seconds)
        return job.status in ("done", "failed")

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._prune()
            return self._jobs.get(job_id)

    def _prune(self) -> None:
        limit = time.time() - self.ttl
        ended = [j for j in self._jobs.values() if j.finished is not None]
        for j in ended:
            if j.finished < limit:  # type: ignore[operator]
                del self._jobs[j.id]
        ended = [j for j in self._jobs.values() if j.finished is not None]
        for j in ended[:max(0, len(ended) - MAX_KEPT_JOBS)]:
            del self._jobs[j.id]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------- app state


@dataclass(frozen=True)
class PlannerData:
    demand: Demand
    districts: Districts | None


class PlannerState:
    """Per-app planner state in ``app.extensions["locator.planner"]``: the job pool,
    the demand and districts (loaded once, on first use) and a small result cache."""

    def __init__(self, app: Flask):
        cfg = app.config
        self.demand_path = cfg.get("LOCATOR_DEMAND") or None
        self.districts_path = cfg.get("LOCATOR_DISTRICTS") or None
        self.jobs = JobManager(workers=int(cfg.get("LOCATOR_PLANNER_WORKERS", 2)),
                               max_pending=int(cfg.get("LOCATOR_PLANNER_QUEUE", 8)),
                               ttl=float(cfg.get("LOCATOR_PLANNER_JOB_TTL", 600)))
        self.wait_s = min(float(cfg.get("LOCATOR_PLANNER_WAIT", 2.0)), MAX_WAIT_S)
        self._data: PlannerData | None = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, Any] = OrderedDict()

    def data(self) -> PlannerData:
        if self._data is None:
            with self._lock:
                if self._data is None:
                    self._data = self._load()
        return self._data

    def _load(self) -> PlannerData:
        from ..coverage import (load_illustrative_demand, load_xuzhou_districts,
                                read_demand, read_districts)

        try:
            districts = (read_districts(self.districts_path) if self.districts_path
                         else load_xuzhou_districts())
            if self.demand_path:
                demand = read_demand(self.demand_path, districts=districts
                                     if self.districts_path else None)
            else:
                demand = load_illustrative_demand(
                    districts=districts if self.districts_path else None)
        except (LocatorError, OSError) as e:
            log.error("planner data not loadable: %s", e)
            raise ServiceUnavailable(f"the planner's demand or district data cannot be "
                                     f"loaded ({e}); check LOCATOR_DEMAND and "
                                     "LOCATOR_DISTRICTS") from None
        return PlannerData(demand, districts)

    def cached(self, key: tuple, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = make()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > 6:
                self._cache.popitem(last=False)
        return value


@bp.record_once
def _init(setup_state: Any) -> None:
    app = setup_state.app
    st = PlannerState(app)
    app.extensions["locator.planner"] = st
    weakref.finalize(app, st.jobs.shutdown)


def _state() -> PlannerState:
    return current_app.extensions["locator.planner"]


def _network_factory() -> Callable[..., TravelEngine] | None:
    f = current_app.extensions.get("locator.network_engine")
    return f if callable(f) else None


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunSpec:
    """What to compute on, validated: the engine and the stations that count."""

    engine: TravelEngine
    stations: Any  # StationSet
    records: tuple  # the counted Station records (for the map)
    sample: bool
    at: datetime | None


def _make_engine(engine: str, mode: str, speed_kmh: float | None,
                 detour: float | None) -> TravelEngine:
    if engine == "network":
        factory = _network_factory()
        if factory is None:
            raise InvalidInput("engine: 'network' is not configured on this server; allowed: "
                               "straight", field="engine")
        if detour is not None:
            raise InvalidInput("detour: only the straight-line engine takes a detour factor",
                               field="detour")
        return factory(mode, speed_kmh=speed_kmh)
    kw: dict[str, Any] = {"speed_kmh": speed_kmh}
    if detour is not None:
        kw["detour"] = detour
    return StraightLineEngine(mode, **kw)


def _run_spec(*, mode: str, engine: str, at: datetime | None, types: Sequence[str] | None,
              speed_kmh: float | None = None, detour: float | None = None) -> RunSpec:
    eng = _make_engine(engine, mode, speed_kmh, detour)
    records = get_registry().index.stations()
    st = select_stations(records, at=at, types=types or None)
    used = set(st.ids.tolist())
    counted = tuple(s for s in records if s.id in used)
    return RunSpec(eng, st, counted, any(s.is_sample for s in counted), at)


def _flags(spec: RunSpec, demand: Demand) -> dict[str, Any]:
    ill = demand.is_illustrative or spec.sample
    out: dict[str, Any] = {"illustrative": ill, "illustrative_demand": demand.is_illustrative,
                           "sample_stations": spec.sample, "attribution": _ATTRIBUTION}
    if ill:
        out["notice"] = ("示例数据：结果基于示意需求或示例站点，不代表真实情况 / Illustrative: "
                         "computed on illustrative demand or sample stations, not real data")
    if spec.sample:
        out["stations_notice"] = SAMPLE_NOTICE
    return out


def run_coverage(spec: RunSpec, data: PlannerData, minutes: Sequence[float], *,
                 gaps: bool, gap_limit: int, geometry: bool) -> dict[str, Any]:
    rep = coverage_report(spec.engine, spec.stations, data.demand, minutes=minutes,
                          districts=data.districts)
    out = {**rep.to_dict(), **_flags(spec, data.demand), "gaps": None}
    if gaps:
        g = find_gaps(spec.engine, spec.stations, data.demand, max(minutes), limit=gap_limit)
        out["gaps"] = g.to_dict(geometry=geometry)
    return out


def run_suggest(spec: RunSpec, data: PlannerData, minutes: float, *, n: int, beta: float,
                exact: bool | None, candidates: Candidates | None) -> dict[str, Any]:
    if candidates is None:
        candidates = candidates_from_gaps(find_gaps(spec.engine, spec.stations, data.demand,
                                                    minutes))
    problem = build_siting_problem(spec.engine, spec.stations, data.demand, candidates,
                                   minutes)
    res = suggest_sites(problem, n, beta=beta, exact=exact, time_limit=EXACT_TIME_LIMIT_S)
    pos = {str(i): (float(x), float(y)) for i, x, y in
           zip(candidates.ids, candidates.lon, candidates.lat)}
    best = res.best
    sites = [{"rank": k, "id": sid, "lon": round(pos[sid][0], 7), "lat": round(pos[sid][1], 7),
              "gain": round(g, 6)}
             for k, (sid, g) in enumerate(zip(best.site_ids, best.gains), start=1)]
    return {"minutes": minutes, "engine": spec.engine.describe(),
            "stations": spec.stations.describe(), "demand": {
                "units": len(data.demand), "source": data.demand.source,
                "total": round(data.demand.total_weight, 6)},
            "candidates": {"count": len(candidates), "source": candidates.source},
            "siting": res.to_dict(), "sites": sites, **_flags(spec, data.demand)}


# --------------------------------------------------------------------------- JSON bodies


@dataclass(frozen=True)
class Field:
    name: str
    parse: Callable[[Any], Any]
    default: Any = None


def _json_body() -> dict[str, Any]:
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
    return now() if v.strip().lower() == "now" else parse_when(v, field="at")


def _types(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not 1 <= len(v) <= 20 or not all(isinstance(x, str)
                                                                    for x in v):
        raise InvalidInput("types: a list of 1..20 station type codes", field="types")
    return tuple(STATION_TYPES.parse(x, field="types") for x in v)


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


def _candidates(items: list[dict[str, Any]], crs: str) -> Candidates:
    ids, lon, lat = [], [], []
    for i, c in enumerate(items):
        x, y = validate_lonlat(c["lon"], c["lat"], crs=_crs(c["crs"]) if "crs" in c else crs,
                               field_prefix=f"candidates[{i}].")
        ids.append(str(c["id"]))
        lon.append(x)
        lat.append(y)
    try:
        return Candidates(ids, lon, lat, "request")
    except InvalidInput as e:
        raise InvalidInput(e.message, field="candidates") from None


def _wait(v: Any) -> float:
    return _number(0, MAX_WAIT_S, " seconds")(v)


def _common_fields(minutes: Field) -> list[Field]:
    return [Field("mode", _mode, "walk"), minutes,
            Field("speed_kmh", _number(0.1, 60, " km/h")),
            Field("detour", _number(1, 3)),
            Field("engine", _str_choice(*ENGINES), "straight"),
            Field("at", _at), Field("types", _types), Field("wait", _wait)]


COVERAGE_FIELDS = _common_fields(Field("minutes", _minutes_list, REPORT_MINUTES)) + [
    Field("gaps", _bool, False), Field("gap_limit", _integer(1, 1000), 20),
    Field("geometry", _bool, False)]
SUGGEST_FIELDS = _common_fields(Field("minutes", _one_minutes, 15.0)) + [
    Field("n", _integer(1, 100), 5), Field("beta", _number(0, 1)),
    Field("exact", _bool), Field("candidates", _candidate_items),
    Field("from_gaps", _bool, False), Field("crs", _crs, "wgs84")]


def _spec_of(a: dict[str, Any]) -> RunSpec:
    return _run_spec(mode=a["mode"], engine=a["engine"], at=a["at"], types=a["types"],
                     speed_kmh=a["speed_kmh"], detour=a["detour"])


def _answer(kind: str, fn: Callable[[], dict[str, Any]], wait: float | None) -> Response:
    st = _state()
    job = st.jobs.submit(kind, fn)
    if st.jobs.wait(job, st.wait_s if wait is None else wait):
        if job.status == "failed":
            if isinstance(job.exc, LocatorError):
                raise job.exc
            raise RuntimeError(f"planner job {job.id} failed") from job.exc
        return jsonify(job.result)
    location = f"/api/v1/jobs/{job.id}"
    resp = jsonify({"id": job.id, "kind": kind, "status": job.status, "location": location})
    resp.status_code = 202
    resp.headers["Location"] = location
    resp.headers["Retry-After"] = "1"
    return resp


@bp.post("/api/v1/coverage")
def api_coverage():
    a = parse_body(_json_body(), COVERAGE_FIELDS)
    spec = _spec_of(a)
    data = _state().data()
    minutes, gaps, limit, geometry = a["minutes"], a["gaps"], a["gap_limit"], a["geometry"]
    return _answer("coverage", lambda: run_coverage(spec, data, minutes, gaps=gaps,
                                                    gap_limit=limit, geometry=geometry),
                   a["wait"])


@bp.post("/api/v1/suggest")
def api_suggest():
    a = parse_body(_json_body(), SUGGEST_FIELDS)
    if (a["candidates"] is None) == (not a["from_gaps"]):
        raise InvalidInput("candidates: give either 'candidates' (a list of {id, lon, lat}) or "
                           "'from_gaps': true, not both and not neither", field="candidates")
    cands = None if a["candidates"] is None else _candidates(a["candidates"], a["crs"])
    if cands is not None and a["n"] > len(cands):
        raise InvalidInput(f"n: {a['n']} is more than the {len(cands)} candidate sites; allowed "
                           f"1..{len(cands)}", field="n")
    spec = _spec_of(a)
    data = _state().data()
    minutes, n, exact = a["minutes"], a["n"], a["exact"]
    beta = 0.0 if a["beta"] is None else a["beta"]
    return _answer("suggest", lambda: run_suggest(spec, data, minutes, n=n, beta=beta,
                                                  exact=exact, candidates=cands), a["wait"])


@bp.get("/api/v1/jobs/<job_id>")
def api_job(job_id: str):
    parse_args(request.args, [])
    job = _state().jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id!r} does not exist (finished jobs are kept "
                       f"{_state().jobs.ttl:g} s)")
    resp = jsonify(job.to_dict())
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --------------------------------------------------------------------------- page


MODE_LABELS = {"walk": ("步行", "Walk"), "bike": ("自行车", "Bike"), "ebike": ("电动自行车", "E-bike")}
PAGE_PARAMS = [
    Param("mode", choice(*MODES), default="walk"),
    Param("minutes", check_minutes, default=15.0),
    Param("engine", choice(*ENGINES), default="straight"),
    Param("at", text),
    Param("n", integer(0, 20), default=5),
    Param("lang", choice("zh", "en"), default="zh"),
]


@dataclass(frozen=True)
class Plan:
    """One planner run: everything the page and the report show."""

    spec: RunSpec
    data: PlannerData
    report: Any
    gaps: Any
    suggestions: Any
    candidates: Candidates | None
    minutes: float


def _page_args() -> dict[str, Any]:
    a = parse_args(request.args, PAGE_PARAMS)
    raw = a["at"]
    if raw is None:
        a["at"] = now().replace(second=0, microsecond=0)
    elif raw.strip() == "":
        a["at"] = None
    else:
        a["at"] = parse_when(raw, field="at")
    return a


def _plan(a: dict[str, Any]) -> Plan:
    st = _state()
    spec = _run_spec(mode=a["mode"], engine=a["engine"], at=a["at"], types=None)
    key = (a["mode"], a["minutes"], a["engine"], a["at"], a["n"],
           get_registry().store.last_change_id())

    def make() -> Plan:
        data = st.data()
        m = a["minutes"]
        thresholds = sorted({*REPORT_MINUTES, m})
        rep = coverage_report(spec.engine, spec.stations, data.demand, minutes=thresholds,
                              districts=data.districts)
        gaps = find_gaps(spec.engine, spec.stations, data.demand, m)
        sugg = cands = None
        if a["n"] and gaps.gaps:
            cands = candidates_from_gaps(gaps)
            problem = build_siting_problem(spec.engine, spec.stations, data.demand, cands, m)
            sugg = suggest_sites(problem, min(a["n"], len(cands)), exact=False)
        return Plan(spec, data, rep, gaps, sugg, cands, m)

    return st.cached(key, make)


def _tiles(lang: str) -> tuple[list[dict[str, Any]], str]:
    from .maps import map_crs, tile_sources

    tiles = current_app.config["LOCATOR_TILES"]
    srcs = tile_sources(tiles, tianditu_key=current_app.config.get("LOCATOR_TIANDITU_KEY") or "",
                        lang=lang)
    return [asdict(s) for s in srcs], map_crs(tiles)


def _report_kwargs(p: Plan, lang: str) -> dict[str, Any]:
    return {"gaps": p.gaps, "suggestions": p.suggestions, "candidates": p.candidates,
            "stations": p.spec.records, "demand": p.data.demand, "districts": p.data.districts,
            "engine": p.spec.engine, "minutes": p.minutes, "lang": lang,
            "title": _("15分钟服务圈覆盖报告", "15-minute service circle coverage report")}


def _query(a: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    at = "" if a["at"] is None else a["at"].strftime("%Y-%m-%dT%H:%M")
    q = {"mode": a["mode"], "minutes": f"{a['minutes']:g}", "engine": a["engine"], "at": at,
         "n": a["n"], "lang": a["lang"] if "lang" in request.args else None}
    return urlencode({k: v for k, v in q.items() if v is not None})


@bp.get("/planner")
def planner_page():
    from ..coverage.report import report_context

    lang = current_lang()
    network = _network_factory() is not None
    form = {"mode": request.args.get("mode", "walk"), "minutes": request.args.get("minutes", "15"),
            "engine": request.args.get("engine", "straight"), "n": request.args.get("n", "5"),
            "at": request.args.get("at")}
    error, ctx, a, sample = None, None, None, False
    try:
        a = _page_args()
        form["at"] = "" if a["at"] is None else a["at"].strftime("%Y-%m-%dT%H:%M")
        plan = _plan(a)
        sample = plan.spec.sample
        tiles, crs = _tiles(lang)
        ctx = report_context(plan.report, **_report_kwargs(plan, lang), tiles=tiles, crs=crs,
                             standalone=False)
    except InvalidInput as e:
        error = str(e)
    if form["at"] is None:
        form["at"] = now().strftime("%Y-%m-%dT%H:%M")
    html = render_template(
        "planner.html", ctx=ctx, error=error, form=form, network=network,
        sample_data=sample,
        modes=[(m, _(*MODE_LABELS[m]), config.SPEEDS_KMH[m]) for m in MODES],
        report_url=("/planner/report.html?" + _query(a)) if a is not None and ctx else None,
        detour=config.DETOUR_FACTOR)
    return Response(html, status=400 if error else 200, mimetype="text/html")


@bp.get("/planner/report.html")
def planner_report():
    from ..coverage.report import build_report

    a = _page_args()
    plan = _plan(a)
    lang = current_lang()
    html = build_report(plan.report, **_report_kwargs(plan, lang))
    stamp = (a["at"].strftime("%Y%m%d-%H%M") if a["at"] is not None else "any-time")
    name = f"coverage-{a['mode']}-{a['minutes']:g}min-{stamp}.html"
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
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
        "wait": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_S, "default": 2,
                 "description": "Seconds to wait for the answer; longer runs get 202."},
    }
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
        "from_gaps": {"type": "boolean", "default": False,
                      "description": "Use one candidate per gap instead of 'candidates'."},
        "crs": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84",
                "description": "CRS of the candidates."}}}
    # Every body field is optional, and null means "use the default" (parse_body).
    for body in (coverage_body, suggest_body):
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
    }

"""The planner: coverage of the 15-minute service circle, for union staff.

Routes of this module (the JSON API is :mod:`.planner_api`)
----------------------------------------------------------
``GET /planner``
    The page: mode, minutes, engine and "coverage at" time; the map (with road-network
    isochrones where a network is configured, and each station's reach on a click), the
    district table and charts (the report's own macros), gaps and suggested sites, and
    a link to download the report.
``GET /planner/report.html``
    The same run as a self-contained HTML report, as an attachment.

This module holds the planner's state (:class:`PlannerState`: demand, districts, jobs
and a small cache of page runs) and the engine hook (:func:`make_engine`); the runs
themselves are the core's planning service (:mod:`locator.coverage.planning`), which
the CLI and the API call too.

Configuration (``app.config``; all optional)
--------------------------------------------
``LOCATOR_DEMAND``: demand file (CSV/GeoJSON/GeoTIFF, see ``read_demand``); default the
shipped ILLUSTRATIVE Xuzhou layer. ``LOCATOR_DISTRICTS``: district boundaries
(GeoJSON with ``adcode``, ``name``, ``name_en``); default the shipped Xuzhou districts.
Jobs (see :mod:`.jobs`): ``LOCATOR_PLANNER_WORKERS`` (2 threads per process),
``LOCATOR_PLANNER_QUEUE`` (8 jobs queued or running), ``LOCATOR_PLANNER_JOB_TTL``
(600 s), ``LOCATOR_PLANNER_TIMEOUT`` (3,600 s), ``LOCATOR_PLANNER_STALE`` (30 s
without a sign of life from the process running a job: abandoned; the same on every
process of a database), ``LOCATOR_PLANNER_WAIT`` (2 s),
``LOCATOR_PLANNER_SHARE`` (true: API runs are shared through the database, see
:mod:`.share`; false computes every request afresh).
The page waits ``LOCATOR_PLANNER_PAGE_WAIT`` (10 s) for its run; a longer one (a
city-wide road network) answers 202 with a page that reloads until the run, which goes
on in the background, is ready (runs are cached per process).

Road network hook: put a factory in ``app.extensions["locator.network_engine"]``,
called as ``factory(mode, speed_kmh=None)`` and returning a
:class:`~locator.coverage.TravelEngine`; the page then enables "road network" and the
API accepts ``"engine": "network"``. ``create_app`` installs one when ``LOCATOR_PBF``
names an OpenStreetMap extract.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request
from werkzeug.exceptions import ServiceUnavailable

from ... import config
from ...coverage import (
    StraightLineEngine,
    TravelEngine,
    check_minutes,
    mode_speed_kmh,
)
from ...coverage.planning import (
    Plan,
    PlanningData,
    RunSpec,
    compute_plan,
    resolve_at,
    run_flags,
    spec_of,
)
from ...errors import InvalidInput, LocatorError, NotFound
from .. import get_registry
from ..i18n import current_lang
from ..i18n import gettext as _
from ..params import Param, boolean, choice, integer, parse_args, text
from .body import ENGINES, MAX_WAIT_S, MODES
from .jobs import JobManager, raise_failure
from .share import data_identity, network_identity, run_key, stations_identity

log = logging.getLogger(__name__)
bp = Blueprint("planner", __name__)

#: Seconds between reloads of a page whose run is still being computed.
REFRESH_S = 3
_OSM = config.OSM_NOTICE


# --------------------------------------------------------------------------- app state


class PlannerState:
    """Per-app planner state in ``app.extensions["locator.planner"]``: the job pool,
    the demand and districts (loaded once, on first use) and a small result cache."""

    def __init__(self, app: Flask):
        cfg = app.config
        self.demand_path = cfg.get("LOCATOR_DEMAND") or None
        self.districts_path = cfg.get("LOCATOR_DISTRICTS") or None
        self._job_args: dict[str, Any] = {"workers": int(cfg.get("LOCATOR_PLANNER_WORKERS", 2)),
                          "max_pending": int(cfg.get("LOCATOR_PLANNER_QUEUE", 8)),
                          "ttl": float(cfg.get("LOCATOR_PLANNER_JOB_TTL", 600)),
                          "timeout": float(cfg.get("LOCATOR_PLANNER_TIMEOUT", 3600)),
                          "stale_after": float(cfg.get("LOCATOR_PLANNER_STALE", 30))}
        self._jobs: JobManager | None = None
        self.wait_s = min(float(cfg.get("LOCATOR_PLANNER_WAIT", 2.0)), MAX_WAIT_S)
        self._data: PlanningData | None = None
        self._data_id: str | None = None
        #: Whether runs are shared through the database (:mod:`.share`).
        self.share = bool(cfg.get("LOCATOR_PLANNER_SHARE", True))
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._pending: dict[tuple, Future] = {}
        self._pages = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planner-page")
        self.page_wait_s = float(cfg.get("LOCATOR_PLANNER_PAGE_WAIT", 10.0))

    @property
    def jobs(self) -> JobManager:
        """The job manager, on the station store's database (made on first use)."""
        if self._jobs is None:
            with self._lock:
                if self._jobs is None:
                    self._jobs = JobManager(get_registry().store.engine, **self._job_args)
        return self._jobs

    def shutdown(self) -> None:
        self._pages.shutdown(wait=False, cancel_futures=True)
        if self._jobs is not None:
            self._jobs.shutdown()

    def data(self) -> PlanningData:
        if self._data is None:
            with self._lock:
                if self._data is None:
                    self._data = self._load()
        return self._data

    def data_id(self) -> str:
        """The identity of the demand and district layers (:func:`.share.data_identity`),
        computed once."""
        if self._data_id is None:
            data = self.data()
            with self._lock:
                if self._data_id is None:
                    self._data_id = data_identity(data.demand, data.districts)
        return self._data_id

    def _load(self) -> PlanningData:
        from ...coverage import (
            load_illustrative_demand,
            load_xuzhou_districts,
            read_demand,
            read_districts,
        )

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
        return PlanningData(demand, districts)

    def cached(self, key: tuple, make: Callable[[], Any], *,
               wait: float | None = None) -> Any | None:
        """The value cached under ``key``, or ``make()`` run on the page thread and
        cached. With ``wait``, give up after that many seconds and return None (the run
        goes on, and a later call with the same key picks it up): a long road-network
        run must not hold a request (and its gunicorn worker) for minutes."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            future = self._pending.get(key)
            if future is None:
                future = self._pages.submit(make)
                self._pending[key] = future
        try:
            value = future.result(timeout=wait)
        except TimeoutError:
            return None
        except BaseException:
            with self._lock:
                self._pending.pop(key, None)  # a later call tries again
            raise
        with self._lock:
            self._pending.pop(key, None)
            self._cache[key] = value
            while len(self._cache) > 6:
                self._cache.popitem(last=False)
        return value


@bp.record_once
def _init(setup_state: Any) -> None:
    app = setup_state.app
    st = PlannerState(app)
    app.extensions["locator.planner"] = st
    weakref.finalize(app, st.shutdown)


def planner_state() -> PlannerState:
    return current_app.extensions["locator.planner"]


def _network_factory() -> Callable[..., TravelEngine] | None:
    f = current_app.extensions.get("locator.network_engine")
    return f if callable(f) else None


# --------------------------------------------------------------------------- runs


def make_engine(engine: str, mode: str, speed_kmh: float | None,
                detour: float | None) -> Callable[[], TravelEngine]:
    """Check the engine's parameters now (a 400 names the bad one) and return what makes
    the engine: at once for the straight line, on first call for a road network."""
    if engine == "network":
        factory = _network_factory()
        if factory is None:
            raise InvalidInput("engine: 'network' is not configured on this server; allowed: "
                               "straight", field="engine")
        if detour is not None:
            raise InvalidInput("detour: only the straight-line engine takes a detour factor",
                               field="detour")
        mode_speed_kmh(mode, speed_kmh)  # validates mode and speed
        return lambda: factory(mode, speed_kmh=speed_kmh)
    kw: dict[str, Any] = {"speed_kmh": speed_kmh}
    if detour is not None:
        kw["detour"] = detour
    straight = StraightLineEngine(mode, **kw)
    return lambda: straight


def run_spec(*, mode: str, engine: str, at: datetime | None, types: Sequence[str] | None,
             speed_kmh: float | None = None, detour: float | None = None,
             weather: str | None = None) -> RunSpec:
    return spec_of(make_engine(engine, mode, speed_kmh, detour), get_registry().index.stations(),
                   at=at, types=types, weather=weather)



# --------------------------------------------------------------------------- page


MODE_LABELS = {"walk": ("步行", "Walk"), "bike": ("自行车", "Bike"),
               "ebike": ("电动自行车", "E-bike")}
PAGE_PARAMS = [
    Param("mode", choice(*MODES), default="walk"),
    Param("minutes", check_minutes, default=15.0),
    Param("engine", choice(*ENGINES), default="straight"),
    Param("at", text),
    Param("n", integer(0, 20), default=5),
    Param("sites_from", choice("gaps", "nodes"), default="gaps"),
    Param("weather", choice("", "heat", "cold"), default=""),
    Param("lang", choice("zh", "en"), default="zh"),
    # The other views' parameters (:mod:`.views`); the coverage view keeps them in its
    # links and ignores them.
    Param("view", choice("", "coverage", "profile", "scenario", "access", "target"),
          default="coverage"),
    Param("day", text, default=""),
    Param("profile", choice("uniform", "sanitation", "delivery"), default="uniform"),
    Param("compare", text, repeat=True),
    Param("method", choice("e2sfca", "2sfca"), default="e2sfca"),
    Param("target", text, default="100%"),
    Param("backup", boolean, default=False),
    Param("solver", choice("auto", "exact", "greedy"), default="auto"),
    Param("candidates", choice("uncovered", "gaps", "nodes"), default="uncovered"),
]
#: Metres between road-node candidates on the page.
PAGE_NODE_SPACING_M = 250.0


def _page_args() -> dict[str, Any]:
    a = parse_args(request.args, PAGE_PARAMS)
    # No time (absent or empty) ignores opening hours, as the field's label says; the
    # page states the time used and the stations counted either way.
    a["at"] = resolve_at(a["at"])
    a["weather"] = a["weather"] or None  # empty: every station, whatever its amenities
    return a


def _plan(a: dict[str, Any], *, wait: float | None = None) -> Plan | None:
    """The page's run for the arguments ``a``; None if it is still being computed after
    ``wait`` seconds.

    Runs are cached per process (the last few) and, when runs are shared
    (``LOCATOR_PLANNER_SHARE``), through the database as planner jobs of kind ``page``:
    a worker asked for a run that another worker or host has finished takes its figures
    from the stored record (sealed with the database's key, see :func:`seal_run`)
    instead of computing them again, and one asked while it is still going on waits for
    it. The stored part is the figures (report, gaps, sites, candidates, covered area);
    the stations, engine, demand and districts are this process's own, equal to the
    computing worker's by the run's key (:func:`page_run_key`)."""
    st = planner_state()
    make_eng = make_engine(a["engine"], a["mode"], None, None)  # checked in the request
    if a["sites_from"] == "nodes" and a["engine"] != "network":
        raise InvalidInput("sites_from: road nodes as candidate sites need the road-network "
                           "engine", field="sites_from")
    reg = get_registry()
    key = (a["mode"], a["minutes"], a["engine"], a["at"], a["n"], a["sites_from"],
           a["weather"], reg.store.last_change_id())
    network: str | None = None
    if a["engine"] == "network":
        network = network_identity(current_app.extensions.get("locator.network_engine"),
                                   current_app.config.get("LOCATOR_PBF") or None)
    shared = st.share and (a["engine"] != "network" or network is not None)
    jobs = st.jobs if shared else None  # made in the request (it needs the app)
    current_key = current_app.config.get("LOCATOR_SECRET_KEY")

    def make() -> Plan:
        # Selecting the counted stations (opening hours of every station) is done only
        # when the run is not cached.
        spec = spec_of(make_eng, reg.index.stations(), at=a["at"], types=None,
                       weather=a["weather"])
        data = st.data()
        if jobs is None:
            return _compute_plan(spec, data, a)
        computed: list[Plan] = []
        # A key set outside the database is the stronger seal: write access to the
        # database alone then cannot forge a run that this app unpickles.
        secret = current_key or jobs.table.seal_key()

        def run() -> bytes:
            plan = _compute_plan(spec, data, a)
            computed.append(plan)
            return seal_run(plan.figures(), secret)

        job = jobs.submit("page", run, key=page_run_key(a, spec, st.data_id(), network))
        while not jobs.wait(job, 5.0):
            pass  # a run that never ends is abandoned (timeout, stale owner): failed
        if job.status == "failed":
            raise_failure(job)
        if computed:
            return computed[0]
        figures = unseal_run(job.body, secret)
        if figures is None:  # sealed with another key or format: compute it here
            return _compute_plan(spec, data, a)
        rep, gaps, sugg, cands, area = figures
        return Plan(spec, data, rep, gaps, sugg, cands, a["minutes"], area)

    return st.cached(key, make, wait=wait)


def _compute_plan(spec: RunSpec, data: PlanningData, a: dict[str, Any]) -> Plan:
    return compute_plan(spec, data, a["minutes"], n=a["n"], sites_from=a["sites_from"],
                        node_spacing_m=PAGE_NODE_SPACING_M)


def page_run_key(a: dict[str, Any], spec: RunSpec, data_id: str,
                 network: str | None) -> str:
    """The shared key of a page run (:func:`.share.run_key`): its parameters, engine,
    counted stations (ids, positions *and* record versions: the page shows names and
    details, so any edit of a counted station makes a new run) and data layers."""
    engine: dict[str, Any] = {"engine": a["engine"], "mode": a["mode"], "speed_kmh": None,
                              "detour": None}
    if network is not None:
        engine["network"] = network
    versions = [[s.id, s.version] for s in spec.records]
    params = {"minutes": a["minutes"], "n": a["n"], "sites_from": a["sites_from"],
              "weather": a["weather"], "records": versions}
    return run_key("page", params, engine=engine, data=data_id,
                   stations=stations_identity(spec.stations, sample=spec.sample))


#: The head of a sealed page run (its format: a new one never reads an old one).
_SEALED = b"locator-page-run:1:"


def _seal_key(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    return hashlib.sha256(b"locator planner page runs\0" + raw).digest()


def seal_run(figures: Any, secret: str | bytes) -> bytes:
    """``figures`` pickled and signed (HMAC-SHA256 under a key derived from ``secret``,
    the database's own key, :meth:`~locator.store.jobs.JobTable.seal_key`): only what a
    process of this app stored is ever unpickled."""
    body = pickle.dumps(figures, protocol=pickle.HIGHEST_PROTOCOL)
    return _SEALED + hmac.new(_seal_key(secret), body, hashlib.sha256).digest() + body


def unseal_run(blob: bytes | None, secret: str | bytes) -> Any | None:
    """The figures of a sealed run; None unless ``blob`` is one, sealed with ``secret``."""
    if not blob or not blob.startswith(_SEALED):
        return None
    mac, body = blob[len(_SEALED):len(_SEALED) + 32], blob[len(_SEALED) + 32:]
    if not hmac.compare_digest(mac, hmac.new(_seal_key(secret), body,
                                             hashlib.sha256).digest()):
        return None
    return pickle.loads(body)  # noqa: S301 - signed by this app, checked above


def _tiles(lang: str) -> tuple[list[dict[str, Any]], str]:
    """The coverage map's tile layers (carrying the notice for its bottom left: base map
    source, approval number) and CRS, as on every other page."""
    from ..maps import page_base_map

    cfg = current_app.config
    base = page_base_map(cfg["LOCATOR_TILES"], tianditu_key=cfg.get("LOCATOR_TIANDITU_KEY")
                         or "", lang=lang)
    return base.mappings(), base.crs


def _report_kwargs(p: Plan, lang: str) -> dict[str, Any]:
    return {"gaps": p.gaps, "suggestions": p.suggestions, "candidates": p.candidates,
            "stations": p.spec.records, "demand": p.data.demand, "districts": p.data.districts,
            "engine": p.spec.engine, "minutes": p.minutes, "lang": lang,
            "isochrones": p.covered_area,
            "title": _("15分钟服务圈覆盖报告", "15-minute service circle coverage report")}


def _query(a: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    at = "" if a["at"] is None else a["at"].strftime("%Y-%m-%dT%H:%M")
    q = {"mode": a["mode"], "minutes": f"{a['minutes']:g}", "engine": a["engine"], "at": at,
         "n": a["n"], "sites_from": a["sites_from"] if a["sites_from"] != "gaps" else None,
         "weather": a["weather"],
         "lang": a["lang"] if "lang" in request.args else None}
    return urlencode({k: v for k, v in q.items() if v is not None})


@bp.get("/planner")
def planner_page():
    from ...coverage.report import report_context
    from .views import view_page, view_tabs

    view = request.args.get("view", "coverage")
    if view in ("profile", "scenario", "access", "target"):
        return view_page(view)
    lang = current_lang()
    network = _network_factory() is not None
    form = {"mode": request.args.get("mode", "walk"), "minutes": request.args.get("minutes", "15"),
            "engine": request.args.get("engine", "straight"), "n": request.args.get("n", "5"),
            "sites_from": request.args.get("sites_from", "gaps"),
            "weather": request.args.get("weather", ""),
            "at": request.args.get("at")}
    error, ctx, a, sample, reach, computing = None, None, None, False, None, False
    try:
        a = _page_args()
        form["at"] = "" if a["at"] is None else a["at"].strftime("%Y-%m-%dT%H:%M")
        plan = _plan(a, wait=planner_state().page_wait_s)
        if plan is None:
            computing = True
            raise _Computing
        sample = plan.spec.sample
        tiles, crs = _tiles(lang)
        ctx = report_context(plan.report, **_report_kwargs(plan, lang), tiles=tiles, crs=crs,
                             standalone=False)
        reach = {"url": "/api/v1/reach", "minutes": a["minutes"], "mode": a["mode"],
                 "engine": a["engine"], "crs": crs, "lang": lang}
    except InvalidInput as e:
        error = str(e)
    except _Computing:
        pass
    if form["at"] is None:  # empty, as its label says: opening hours ignored
        form["at"] = ""
    html = render_template(
        "planner.html", ctx=ctx, error=error, form=form, network=network,
        sample_data=sample, reach=reach, computing=computing,
        modes=[(m, _(*MODE_LABELS[m]), config.SPEEDS_KMH[m]) for m in MODES],
        report_url=("/planner/report.html?" + _query(a)) if a is not None and ctx else None,
        query=_query(a) if a is not None and ctx else None,
        detour=config.DETOUR_FACTOR, view="coverage", views=view_tabs("coverage"),
        v=None, vmap=None, field_errors={})
    resp = Response(html, status=400 if error else 202 if computing else 200,
                    mimetype="text/html")
    if computing:
        resp.headers["Retry-After"] = str(REFRESH_S)
        resp.headers["Cache-Control"] = "no-store"
    return resp


class _Computing(Exception):
    """The page's run is not finished yet."""


def _waiting() -> Response:
    resp = Response(render_template("planner_wait.html", refresh_s=REFRESH_S), status=202,
                    mimetype="text/html")
    resp.headers["Retry-After"] = str(REFRESH_S)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _attachment(body: str | bytes, mimetype: str, a: dict[str, Any], what: str,
                ext: str) -> Response:
    stamp = (a["at"].strftime("%Y%m%d-%H%M") if a["at"] is not None else "any-time")
    name = f"{what}-{a['mode']}-{a['minutes']:g}min-{stamp}.{ext}"
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


@bp.get("/planner/report.html")
def planner_report():
    from ...coverage.report import build_report

    a = _page_args()
    plan = _plan(a, wait=planner_state().page_wait_s)
    if plan is None:
        return _waiting()
    html = build_report(plan.report, **_report_kwargs(plan, current_lang()))
    return _attachment(html, "text/html", a, "coverage", "html")


EXPORTS = {"gaps.geojson", "gaps.csv", "gaps.xlsx", "sites.geojson", "sites.csv",
           "sites.xlsx", "covered.geojson", "coverage.xlsx"}
_MIME = {"csv": "text/csv", "geojson": "application/geo+json",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@bp.get("/planner/<name>")
def planner_export(name: str):
    """The page's gaps or suggested sites as GeoJSON, CSV or XLSX, its covered area as
    GeoJSON, or the whole run as one workbook (coverage by district and threshold, gaps,
    sites), with the page's arguments."""
    import orjson

    from ...coverage.export import (
        covered_area_geojson,
        gaps_csv,
        gaps_geojson,
        gaps_table,
        sites_csv,
        sites_geojson,
        sites_table,
        xlsx_bytes,
    )

    if name not in EXPORTS:
        raise NotFound(f"no planner download {name!r}; allowed: {', '.join(sorted(EXPORTS))}")
    a = _page_args()
    plan = _plan(a, wait=planner_state().page_wait_s)
    if plan is None:
        return _waiting()
    flags = run_flags(plan.spec, plan.data.demand)
    caveats = {"notice": flags.get("notice"),
               "attribution": _OSM if a["engine"] == "network" else None}
    layer, ext = name.split(".")
    body: str | bytes
    if layer == "covered":
        st = plan.spec.stations
        body = orjson.dumps(covered_area_geojson(
            plan.spec.engine, st.lon, st.lat, plan.minutes, geometry=plan.covered_area,
            notice=caveats["notice"])).decode()
    elif ext == "xlsx":
        sheets = []
        if layer == "coverage":
            sheets.append((_("覆盖率", "Coverage"), *_coverage_table(plan)))
        if layer in ("coverage", "gaps"):
            sheets.append((_("覆盖缺口", "Gaps"), *gaps_table(plan.gaps, **caveats)))
        if layer in ("coverage", "sites"):
            sheets.append((_("建议新站点", "Suggested sites"),
                           *sites_table(_site_list(plan), **caveats)))
        body = xlsx_bytes(sheets, **caveats)
    elif layer == "gaps":
        body = (gaps_csv(plan.gaps, **caveats) if ext == "csv" else
                orjson.dumps(gaps_geojson(plan.gaps, **caveats)).decode())
    else:
        sites = _site_list(plan)
        body = (sites_csv(sites, **caveats) if ext == "csv" else
                orjson.dumps(sites_geojson(sites, **caveats)).decode())
    what = {"gaps": "gaps", "sites": "new-sites", "covered": "covered-area",
            "coverage": "coverage"}[layer]
    return _attachment(body, _MIME[ext], a, what, ext)


def _coverage_table(plan: Plan) -> tuple[list[str], list[list[Any]]]:
    """Coverage by threshold, city-wide and by district (code and name), for the
    workbook."""
    header = ["minutes", "district_adcode", "district_name", "demand_total",
              "demand_covered", "share_demand", "share_area", "share_cross"]
    rows: list[list[Any]] = []
    for t in plan.report.to_dict()["thresholds"]:
        for d in [{"adcode": "", "name": _("全市", "city-wide"), **t["city"]},
                  *t["districts"]]:
            rows.append([t["minutes"], d.get("adcode", ""), d.get("name", ""),
                         d.get("demand_total"), d.get("demand_covered"),
                         d.get("share_demand"), d.get("share_area"), d.get("share_cross")])
    return header, rows


def _site_list(plan: Plan) -> list[dict[str, Any]]:
    """The page's suggested sites, in the order chosen, named in the page's language."""
    return plan.site_list(current_lang())


from . import views as _views  # noqa: E402, F401 - the other views' routes on bp

"""The planner page's other views: the 24-hour profile, scenarios, access and target.

``GET /planner?view=coverage|profile|scenario|access|target`` (the coverage view is the
page of :mod:`.page`); each keeps the page's other parameters (mode, minutes, engine,
time, weather), and each calls one run of the planning service:

``view=profile&day=YYYY-MM-DD&profile=uniform|sanitation|delivery``
    :func:`~locator.coverage.profile.coverage_profile`: the covered share at each hour
    of the day (chart and table), per district, the night gaps on the map (the units
    covered at noon that are not at night, over the noon coverage). The page's time is
    not used (the profile sets each hour). Downloads ``/planner/profile.csv|xlsx``.
``view=scenario&compare=NAME...``
    saved scenarios (:mod:`.scenarios`), ``POST /planner/scenarios`` saves one;
    :func:`~locator.coverage.scenario.scenario_run` compares the base with each chosen
    one (city and districts at 5, 10, 15 minutes and the page's), the units that gain
    and lose coverage on the map. Downloads ``/planner/scenario.csv|xlsx`` (the deltas)
    and ``/planner/scenario-units.geojson``.
``view=access&method=e2sfca|2sfca``
    :func:`~locator.coverage.planning.access_run`: access per district, equity indices,
    the most crowded stations.
``view=target&target=100%|95&backup=1&solver=auto|exact|greedy&candidates=...``
    (``uncovered|gaps|nodes``) :func:`~locator.coverage.planning.target_run`: how many
    new sites reach the target
    (a bare number is a percentage on the page), which, and how sure; candidates at every
    uncovered unit (the default: 100% is within reach), a grid in the gaps or road
    nodes. Downloads ``/planner/target-sites.csv|xlsx|geojson``.

Every run goes through the page's run cache (:meth:`.page.PlannerState.cached`: the
last few per process; a run still going after ``LOCATOR_PLANNER_PAGE_WAIT`` answers
202 with a page that reloads). Bad input is a 400 naming the field, next to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import numpy as np
from flask import Response, current_app, redirect, render_template, request
from werkzeug.datastructures import MultiDict

from ... import config
from ...coverage.planning import PlanningData, RunSpec, run_flags, spec_of
from ...errors import Conflict, InvalidInput, NotFound
from .. import get_registry
from ..i18n import current_lang
from ..i18n import gettext as _
from .body import MODES
from .page import (
    _OSM,
    MODE_LABELS,
    PAGE_PARAMS,
    REFRESH_S,
    _page_args,
    _plan,
    _tiles,
    _waiting,
    bp,
    make_engine,
    planner_state,
)
from .scenarios import (
    DEFAULT_CRS,
    NameTaken,
    ScenarioFormError,
    file_name,
    scenario_from_form,
    scenario_store,
)

#: The views, in the selector's order, with their labels.
VIEWS: dict[str, tuple[str, str]] = {
    "coverage": ("覆盖与缺口", "Coverage and gaps"),
    "profile": ("24 小时覆盖", "24-hour profile"),
    "scenario": ("情景比较", "Scenarios"),
    "access": ("可达性与公平", "Access and equity"),
    "target": ("达标所需站点", "Sites to reach a target"),
}
DAY_KINDS = {"workday": ("工作日", "workday"), "weekend": ("周末", "weekend"),
             "holiday": ("节假日", "public holiday")}
PROFILE_LABELS = {
    "uniform": ("均匀（每小时相同）", "Uniform (every hour alike)"),
    "sanitation": ("环卫（04:00 起早班，示意）", "Sanitation (shift from 04:00, illustrative)"),
    "delivery": ("外卖（午晚高峰，示意）", "Delivery (meal peaks, illustrative)")}
#: Seconds the exact LSCP solve may take on the page (then its best answer, said so).
TARGET_TIME_LIMIT_S = 5.0
#: Crowded stations listed on the access view.
CROWDED = 10
#: Thresholds the scenario view compares (plus the page's own).
SCENARIO_MINUTES = (5.0, 10.0, 15.0)
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The fields each view shows its errors next to (the status line then points there).
VIEW_FIELDS: dict[str, tuple[str, ...]] = {
    "profile": ("day", "profile"), "access": ("method",),
    "target": ("target", "backup", "candidates"),
    "scenario": ("compare", "name", "description", "add", "crs", "close", "remove",
                 "change_hours", "change_capacity", "file", "sites")}


# --------------------------------------------------------------------------- common


def _records() -> list[Any]:
    return list(get_registry().index.stations())


def _spec(a: dict[str, Any], *, at: Any = "page") -> RunSpec:
    make = make_engine(a["engine"], a["mode"], None, None)
    return spec_of(make, _records(), at=a["at"] if at == "page" else at, types=None,
                   weather=a["weather"])


def _data() -> PlanningData:
    return planner_state().data()


def _run(key: tuple, make: Callable[[], Any]) -> Any:
    """``make()`` through the page's run cache; None while still computing."""
    st = planner_state()
    full = (*key, get_registry().store.last_change_id(), current_app.config.get(
        "LOCATOR_DEMAND"))
    return st.cached(full, make, wait=st.page_wait_s)


def _base_key(a: dict[str, Any]) -> tuple:
    return (a["mode"], a["minutes"], a["engine"], a["weather"])


def view_query(a: dict[str, Any] | None, **changes: Any) -> str:
    """The page's query string (as the request gave it) with ``changes`` (None drops a
    parameter): the view selector's links keep every other parameter."""
    args = MultiDict(request.args)
    for k, v in changes.items():
        args.poplist(k)
        if v is None:
            continue
        for item in (v if isinstance(v, (list, tuple)) else [v]):
            args.add(k, item)
    return urlencode(list(args.items(multi=True)))


def view_tabs(current: str) -> list[dict[str, Any]]:
    return [{"key": k, "label": _(*v), "current": k == current,
             "href": "/planner?" + view_query(None, view=None if k == "coverage" else k)}
            for k, v in VIEWS.items()]


def _overlay(demand: Any, groups: Sequence[tuple[str, np.ndarray, str]], crs: str
             ) -> list[dict[str, Any]]:
    """Demand units for a map layer: per group (key, unit indices, label), the units'
    positions in the map's CRS and their weights."""
    from ...stations.coords import from_wgs84

    out = []
    for key, idx, label in groups:
        idx = np.asarray(idx, dtype=np.intp)
        x, y = from_wgs84(demand.lon[idx], demand.lat[idx], crs)
        out.append({"key": key, "label": label, "points": [
            [round(float(a), 6), round(float(b), 6), round(float(w), 3)]
            for a, b, w in zip(x, y, demand.weight[idx], strict=True)]})
    return out


def _site_points(sites: Sequence[dict[str, Any]], crs: str) -> list[list[Any]]:
    from ...stations.coords import from_wgs84

    if not sites:
        return []
    x, y = from_wgs84(np.array([s["lon"] for s in sites]), np.array([s["lat"] for s in sites]),
                      crs)
    return [[s["rank"], s.get("name") or s["id"], round(float(a), 6), round(float(b), 6)]
            for s, a, b in zip(sites, x, y, strict=True)]


def _map(report: Any, stations: Any, minutes: float, lang: str) -> tuple[Any, str]:
    """The coverage map of ``report`` (the report's own map, with the page's tiles), and
    its CRS, for a view to draw its layer on."""
    from ...coverage.report import report_context

    tiles, crs = _tiles(lang)
    data = _data()
    ctx = report_context(report, stations=stations, demand=data.demand,
                         districts=data.districts, minutes=minutes, lang=lang, tiles=tiles,
                         crs=crs, standalone=False)
    return ctx, crs


def _caveats(spec: RunSpec, a: dict[str, Any]) -> dict[str, Any]:
    flags = run_flags(spec, _data().demand)
    return {"notice": flags.get("notice"),
            "attribution": _OSM if a["engine"] == "network" else None}


def _attachment(body: str | bytes, mimetype: str, name: str) -> Response:
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


_LINE = re.compile(r"^(?P<m>.*) \(line (?P<n>\d+)\)$")


def page_message(e: InvalidInput, lang: str) -> str:
    """``e``'s message in the page's language: the core's English messages in Chinese
    on the Chinese page (:func:`~locator.web.params.zh_message`), as sent with
    ``lang=en``."""
    from ..params import zh_message

    if hasattr(e, "message_in"):
        return str(e.message_in(lang))
    if lang == "en":
        return str(e)
    m = _LINE.match(e.message)
    if m:  # a scenario form's line, after the core's message
        return f"{zh_message(m['m'], e.field)}（第 {m['n']} 行）"
    return zh_message(e.message, e.field)


def _table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Rows of dicts as a header and cells (None as empty). Formula text is kept as text
    by the writers themselves (``csv_text``, ``xlsx_bytes``)."""
    header = list(rows[0]) if rows else []
    return header, [["" if r.get(k) is None else r.get(k) for k in header] for r in rows]


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    from ...coverage.export import csv_text

    return csv_text(header, rows)


# --------------------------------------------------------------------------- the page


def view_page(view: str, *, status: int | None = None,
              form_error: ScenarioFormError | Conflict | None = None,
              scenario_form: dict[str, Any] | None = None) -> Response:
    """The page of a view other than coverage (or the scenario view after a refused
    save: ``form_error`` next to its field, the form as it was sent)."""
    lang = current_lang()
    form = {"mode": request.args.get("mode", "walk"),
            "minutes": request.args.get("minutes", "15"),
            "engine": request.args.get("engine", "straight"), "n": request.args.get("n", "5"),
            "sites_from": request.args.get("sites_from", "gaps"),
            "weather": request.args.get("weather", ""), "at": request.args.get("at") or "",
            **{k: request.args.get(k, "") for k in ("day", "profile", "target", "method",
                                                    "solver", "candidates")},
            "backup": request.args.get("backup", ""), "compare": request.args.getlist("compare")}
    error, field_errors, v, computing, vmap = None, {}, None, False, None
    try:
        a = _page_args()
        form["at"] = "" if a["at"] is None else a["at"].strftime("%Y-%m-%dT%H:%M")
        v = VIEW_RUNS[view](a, lang)
        if v is None:
            computing = True
        else:
            vmap = v.get("map")
    except InvalidInput as e:
        error = page_message(e, lang)
        if e.field:
            field_errors[e.field] = error
    if view == "scenario":
        v = _scenario_listing(v, scenario_form, form_error, lang)
        if form_error is not None:
            field_errors[getattr(form_error, "form_field", None) or "name"] = page_message(
                form_error, lang)
    # an error shown next to its field is not repeated in the status line
    error_at = next((f for f in field_errors if f in VIEW_FIELDS.get(view, ())), None)
    network = current_app.extensions.get("locator.network_engine") is not None
    html = render_template(
        "planner.html", ctx=None, error=error, form=form, network=network,
        sample_data=False, reach=None, computing=computing, view=view,
        views=view_tabs(view), v=v, vmap=vmap, field_errors=field_errors, error_at=error_at,
        modes=[(m, _(*MODE_LABELS[m]), config.SPEEDS_KMH[m]) for m in MODES],
        report_url=None, query=view_query(None), detour=config.DETOUR_FACTOR,
        profile_labels={k: _(*x) for k, x in PROFILE_LABELS.items()})
    code = status or (400 if error else 202 if computing else 200)
    resp = Response(html, status=code, mimetype="text/html")
    if computing:
        resp.headers["Retry-After"] = str(REFRESH_S)
        resp.headers["Cache-Control"] = "no-store"
    return resp


# --------------------------------------------------------------------------- profile


def _day(a: dict[str, Any]) -> str:
    from ...time_util import local_today

    return a["day"] or local_today().isoformat()


def _profile(a: dict[str, Any]) -> Any:
    """The profile of the page's day, and the noon coverage report its map shows."""
    from ...coverage.metrics import coverage_report
    from ...coverage.profile import coverage_profile, parse_day

    day = parse_day(_day(a))  # a bad day is refused before the run
    spec = _spec(a, at=None)
    make = make_engine(a["engine"], a["mode"], None, None)
    data, recs = _data(), _records()  # read here: the run has no app context

    def run() -> tuple[Any, Any, tuple]:
        prof = coverage_profile(spec.engine, recs, data.demand, day,
                                minutes=a["minutes"], districts=data.districts,
                                profile=a["profile"], weather=a["weather"])
        noon = spec_of(make, recs, at=f"{day.isoformat()}T12:00", weather=a["weather"])
        rep = coverage_report(noon.engine, noon.stations, data.demand, minutes=[a["minutes"]],
                              districts=data.districts)
        return prof, rep, noon.records

    got = _run(("profile", *_base_key(a), day, a["profile"]), run)
    return None if got is None else (spec, *got)


def _bars(values: Sequence[float | None], *, highlight: Sequence[int] = ()
          ) -> dict[str, Any]:
    """A 24-bar chart's geometry (the SVG is drawn by the template)."""
    # room for labels twice the desktop size (planner.css enlarges them on a phone)
    w, h, left, top, bottom, right = 720, 260, 64, 16, 44, 8
    plot_w, plot_h = w - left - right, h - top - bottom
    step = plot_w / 24
    bars = []
    for i, v in enumerate(values):
        bh = 0.0 if v is None else plot_h * v
        bars.append({"x": round(left + i * step + step * 0.12, 2), "w": round(step * 0.76, 2),
                     "y": round(top + plot_h - bh, 2), "h": round(bh, 2), "hour": i,
                     "label": f"{i:02d}", "night": i in highlight,
                     "value": "—" if v is None else f"{100 * v:.1f}%",
                     "tx": round(left + i * step + step / 2, 2)})
    grid = [{"y": round(top + plot_h * (1 - p / 100), 2), "label": f"{p}%"}
            for p in (0, 25, 50, 75, 100)]
    return {"width": w, "height": h, "left": left, "right": w - right, "bars": bars,
            "grid": grid, "axis_y": top + plot_h, "label_y": top + plot_h + 30}


def _profile_view(a: dict[str, Any], lang: str) -> dict[str, Any] | None:
    got = _profile(a)
    if got is None:
        return None
    spec, prof, noon, noon_records = got
    day = prof.day
    kind = DAY_KINDS[day["kind"]]
    hours = [{"label": h.label, "counted": h.stations_counted, "unknown": h.stations_unknown,
              "not_open": h.stations_not_open, "share": h.city.share_demand,
              "cross": h.city.share_cross, "multiplier": h.multiplier,
              "night": h.hour in prof.night.night_hours} for h in prof.hours]
    districts = []
    for k, d in enumerate(prof.hours[0].districts):
        shares = [h.districts[k].figures.share_demand for h in prof.hours]
        known = [s for s in shares if s is not None]
        lost = next((x for x in prof.night.by_district if x[0] == d.adcode), None)
        districts.append({"adcode": d.adcode, "name": d.name if lang != "en" or not d.name_en
                          else d.name_en, "shares": shares,
                          "min": min(known) if known else None,
                          "max": max(known) if known else None,
                          "units_lost": lost[2] if lost else 0,
                          "demand_lost": lost[3] if lost else 0.0})
    ctx, crs = _map(noon, noon_records, a["minutes"], lang)
    lost_idx = np.flatnonzero(prof.night.lost)
    night = ", ".join(f"{h:02d}:00" for h in prof.night.night_hours)
    layer = _overlay(_data().demand, [("night", lost_idx, _(
        f"夜间失去覆盖（12:00 有覆盖，{night} 无）",
        f"Lose coverage at night (covered at 12:00, not at {night})"))], crs)
    caveats = _caveats(spec, a)
    return {"kind": "profile", "prof": prof, "day": day, "day_label": _(*kind),
            "hours": hours, "districts": districts, "chart": _bars(
                prof.shares, highlight=prof.night.night_hours),
            "night": prof.night, "night_label": night, "day_share": prof.day_share,
            "notice": caveats["notice"], "map": ctx,
            "overlay": {"groups": layer, "colors": {"night": "#9c36b5"}},
            "downloads": {f: f"/planner/profile.{f}?{view_query(None)}" for f in ("csv", "xlsx")}}


@bp.get("/planner/profile.<ext>")
def profile_download(ext: str):
    """The profile's table (one row per hour and area: the city, then each district) as
    CSV or XLSX, with the page's arguments."""
    from ...coverage.export import xlsx_bytes

    if ext not in ("csv", "xlsx"):
        raise NotFound(f"no profile download .{ext}; allowed: profile.csv, profile.xlsx")
    a = _page_args()
    got = _profile(a)
    if got is None:
        return _waiting()
    spec, prof = got[0], got[1]
    caveats = _caveats(spec, a)
    header, rows = _table(prof.rows(notice=caveats["notice"] or ""))
    name = f"profile-{prof.day['date']}-{a['mode']}-{a['minutes']:g}min.{ext}"
    if ext == "csv":
        return _attachment(_csv(header, rows), "text/csv", name)
    return _attachment(xlsx_bytes([(_("24小时覆盖", "24-hour profile"), header, rows)],
                                  **caveats), _XLSX, name)


# --------------------------------------------------------------------------- scenarios


def _thresholds(a: dict[str, Any]) -> tuple[float, ...]:
    return tuple(sorted({*SCENARIO_MINUTES, float(a["minutes"])}))


def _scenarios_run(a: dict[str, Any]) -> Any:
    """The comparison of the chosen saved scenarios with the base (None: computing)."""
    from ...coverage.scenario import scenario_run

    names = list(dict.fromkeys(a["compare"]))
    if not names:
        return ()
    store = scenario_store()
    chosen = []
    for i, n in enumerate(names):
        try:
            chosen.append(store.get(n).scenario)
        except NotFound:
            raise InvalidInput(f'compare[{i}]: no saved scenario named "{n}"; choose one of '
                               "the saved scenarios", field="compare") from None
    make = make_engine(a["engine"], a["mode"], None, None)
    bodies = tuple(str(s.to_dict()) for s in chosen)
    data, recs = _data(), _records()  # read here: the run has no app context

    def run() -> tuple[Any, tuple]:
        res = scenario_run(make, recs, data, _thresholds(a), chosen, at=a["at"],
                           weather=a["weather"])
        counted = spec_of(make, recs, at=a["at"], weather=a["weather"]).records
        return res, counted

    try:
        return _run(("scenario", *_base_key(a), a["at"], tuple(names), bodies), run)
    except InvalidInput as e:
        raise InvalidInput(f"compare: {e.message} (the scenario refers to the stations as "
                           "they were when it was saved)", field="compare") from None


def _scenario_view(a: dict[str, Any], lang: str) -> dict[str, Any] | None:
    got = _scenarios_run(a)
    if got is None:
        return None
    out: dict[str, Any] = {"kind": "scenario", "compare": list(dict.fromkeys(a["compare"])),
                           "result": None}
    # The page's suggested sites, to add to a new scenario (when already computed).
    try:
        plan = _plan(a, wait=planner_state().page_wait_s)
    except InvalidInput:
        plan = None
    out["sites"] = [] if plan is None else plan.site_list(lang)
    if not got:
        return out
    run, counted = got
    main = float(a["minutes"])
    results = run.results
    thresholds = []
    for k, m in enumerate(run.base.minutes):
        base_city = results[0].thresholds[k].city.base
        thresholds.append({"minutes": m, "main": m == main, "base": base_city, "scenarios": [
            r.thresholds[k].city for r in results]})
    main_k = run.base.minutes.index(main)
    district_rows = []
    for j, d in enumerate(results[0].thresholds[main_k].districts):
        district_rows.append({"adcode": d.adcode, "name": d.name_en if lang == "en" and
                              d.name_en else d.name, "base": d.base,
                              "scenarios": [r.thresholds[main_k].districts[j] for r in results]})
    ctx, crs = _map(run.base.report, counted, main, lang)
    demand = _data().demand
    groups = []
    for i, r in enumerate(results):
        t = r.thresholds[main_k]
        groups.append((f"gain-{i}", t.gained, _(f"「{r.scenario.name}」新增覆盖",
                                                f"“{r.scenario.name}”: gains coverage")))
        groups.append((f"lose-{i}", t.lost, _(f"「{r.scenario.name}」失去覆盖",
                                               f"“{r.scenario.name}”: loses coverage")))
    out.update({"result": run, "results": results, "thresholds": thresholds,
                "districts": district_rows, "main": main, "map": ctx,
                "overlay": {"groups": _overlay(demand, groups, crs),
                            "colors": {"gain": "#1c7ed6", "lose": "#e64980"},
                            "names": [r.scenario.name for r in results]},
                "notice": run.flags.get("notice"),
                "downloads": {f: f"/planner/scenario{f}?{view_query(None)}"
                              for f in (".csv", ".xlsx", "-units.geojson")}})
    return out


def _scenario_listing(v: dict[str, Any] | None, sent: dict[str, Any] | None,
                      form_error: Any, lang: str) -> dict[str, Any]:
    """The saved scenarios and the form (as sent, after a refused save)."""
    from ..staff.auth import current_session

    v = dict(v or {"kind": "scenario", "result": None, "sites": [], "compare": []})
    try:
        v["saved"] = scenario_store().all()
    except Exception:  # noqa: BLE001 - the page still shows the form
        current_app.logger.exception("planner scenarios not readable")
        v["saved"] = []
    v["sent"] = sent or {}
    records = _records()
    v["example_id"] = records[0].id if records else "S1"  # the store's own id format
    v["default_crs"] = DEFAULT_CRS
    try:
        session = current_session()
    except InvalidInput:
        session = None
    v["csrf_token"] = session.csrf_token if session is not None else None
    return v


def _scenario_downloads(ext: str) -> Response:
    import orjson

    from ...coverage.export import xlsx_bytes

    a = _page_args()
    if not a["compare"]:
        raise InvalidInput("compare: choose one or more saved scenarios to compare",
                           field="compare")
    got = _scenarios_run(a)
    if got is None:
        return _waiting()
    run, _counted = got
    flags = run.flags
    caveats = {"notice": flags.get("notice"),
               "attribution": _OSM if a["engine"] == "network" else None}
    stamp = "any-time" if a["at"] is None else a["at"].strftime("%Y%m%d-%H%M")
    if ext == "-units.geojson":
        doc = {"type": "FeatureCollection", "features": run.unit_features(),
               **{k: v for k, v in caveats.items() if v}}
        return _attachment(orjson.dumps(doc).decode(), "application/geo+json",
                           f"scenario-units-{stamp}.geojson")
    notice = caveats["notice"] or ""
    header, rows = _table([{**r, "notice": notice} for r in run.rows()])
    name = f"scenario-deltas-{a['mode']}-{stamp}{ext}"
    if ext == ".csv":
        return _attachment(_csv(header, rows), "text/csv", name)
    return _attachment(xlsx_bytes([(_("情景比较", "Scenarios"), header, rows)], **caveats),
                       _XLSX, name)


@bp.get("/planner/scenario.csv")
def scenario_csv():
    """The deltas of the chosen scenarios (per scenario, threshold, city and district)."""
    return _scenario_downloads(".csv")


@bp.get("/planner/scenario.xlsx")
def scenario_xlsx():
    return _scenario_downloads(".xlsx")


@bp.get("/planner/scenario-units.geojson")
def scenario_units():
    """The demand units that gain and lose coverage in each chosen scenario."""
    return _scenario_downloads("-units.geojson")


@bp.get("/planner/scenarios/<path:name>.json")
def scenario_json(name: str):
    """A saved scenario as its JSON file (``locator scenario FILE.json`` reads it)."""
    from urllib.parse import quote

    import orjson

    from ...coverage.planning import ILLUSTRATIVE_NOTICE

    saved = scenario_store().get(name)
    body = saved.scenario.to_dict()
    if any(s.is_sample for s in _records()):  # the notice goes with the file
        body["description"] = f"{body['description']}\n\n{ILLUSTRATIVE_NOTICE}".strip()
    resp = Response(orjson.dumps(body, option=orjson.OPT_INDENT_2),
                    mimetype="application/json")
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="{file_name(saved.name)}.json"; '
        f"filename*=UTF-8''{quote(saved.name + '.json')}")
    return resp


_SCENARIO_FORM = ("name", "description", "add", "crs", "close", "remove", "change_hours",
                  "change_capacity")


@bp.post("/planner/scenarios")
def scenario_save():
    """Save a scenario from the form (or an uploaded JSON file); then show it compared
    with the base. A refused one is a 400 (409: the name is taken) with the message next
    to its field and the form as sent; nothing is stored."""
    from ..staff.auth import check_csrf, current_user

    user = current_user()
    check_csrf()
    sent: dict[str, Any] = {k: request.form.get(k, "") for k in _SCENARIO_FORM}
    sent["sites"] = request.form.getlist("sites")
    upload = request.files.get("file")
    file_text = None
    try:
        if upload is not None and upload.filename:
            raw = upload.read()
            try:
                file_text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ScenarioFormError("file: the scenario file is not UTF-8 text",
                                        form_field="file") from None
        sites: list[dict[str, Any]] = []
        if sent["sites"]:
            a = _page_args()
            plan = _plan(a, wait=planner_state().page_wait_s)
            sites = [] if plan is None else plan.site_list(current_lang())
        scenario = scenario_from_form(sent, file_text=file_text, chosen=sent["sites"],
                                      sites=sites, records=_records())
        scenario_store().save(scenario, created_by=None if user is None else user.name)
    except ScenarioFormError as e:
        return view_page("scenario", status=400, form_error=e, scenario_form=sent)
    except InvalidInput as e:  # a page argument (the query of the form's action)
        err = ScenarioFormError(str(e), form_field="name", field=e.field)
        return view_page("scenario", status=400, form_error=err, scenario_form=sent)
    except NameTaken as e:
        err = ScenarioFormError(str(e), form_field="name", field="name")
        return view_page("scenario", status=409, form_error=err, scenario_form=sent)
    except Conflict as e:
        err = ScenarioFormError(str(e), form_field="name", field="scenarios")
        return view_page("scenario", status=409, form_error=err, scenario_form=sent)
    compare = list(dict.fromkeys([*request.args.getlist("compare"), scenario.name]))
    return redirect("/planner?" + view_query(None, view="scenario", compare=compare), 303)


@bp.post("/planner/scenarios/delete")
def scenario_delete():
    """Delete a saved scenario (form field ``name``), back to the scenario view."""
    from ..staff.auth import check_csrf, current_user

    current_user()
    check_csrf()
    name = request.form.get("name", "")
    scenario_store().delete(name)
    compare = [c for c in request.args.getlist("compare") if c != name]
    return redirect("/planner?" + view_query(None, view="scenario", compare=compare or None),
                    303)


# --------------------------------------------------------------------------- access


def _access_view(a: dict[str, Any], lang: str) -> dict[str, Any] | None:
    from ...coverage.planning import access_run

    spec = _spec(a)
    method = a["method"] or "e2sfca"
    data = _data()
    doc = _run(("access", *_base_key(a), a["at"], method),
               lambda: access_run(spec, data, a["minutes"], method=method, crowded=CROWDED))
    if doc is None:
        return None
    for d in doc["districts"]:
        d["label"] = d.get("name_en") if lang == "en" and d.get("name_en") else d.get("name")
    return {"kind": "access", "doc": doc, "method": method,
            "per_station": doc["capacity"]["unit"] == "station",
            "notice": doc.get("notice"),
            "downloads": {f: f"/planner/access{f}?{view_query(None)}"
                          for f in (".csv", "-crowded.csv", ".xlsx")}}


def _access_tables(doc: dict[str, Any], lang: str) -> tuple[list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    """The access view's tables as download rows: each district then the city (its
    codes, names, scores per 1,000 demand and equity indices), and the crowded
    stations."""
    unit = "stations" if doc["capacity"]["unit"] == "station" else "seats"
    common = {"method": doc["method"], "minutes": doc["minutes"], "capacity_unit": unit}

    def row(area: str, code: Any, name: Any, name_en: Any, x: dict[str, Any],
            eq: dict[str, Any]) -> dict[str, Any]:
        m = x.get("mean_access")
        return {"area": area, "adcode": code, "name": name, "name_en": name_en,
                "demand": x.get("demand"), "mean_access": m,
                f"mean_access_{unit}_per_1000_demand": None if m is None else m * 1000,
                "demand_without_access": x.get("demand_without_access"),
                "gini": eq.get("gini"), "theil": eq.get("theil"), "palma": eq.get("palma"),
                "worst10_share_uncovered": eq.get("worst10_share_uncovered"), **common,
                "notice": doc.get("notice") or ""}

    areas = [row("district", d["adcode"], d.get("name"), d.get("name_en"), d, d["equity"])
             for d in doc["districts"]]
    city = {"demand": doc["demand"]["total"], "mean_access": doc.get("mean_access"),
            "demand_without_access": doc.get("demand_without_access")}
    areas.append(row("city", "", "全市", "Whole city", city, doc["equity"]))
    crowded = [{"rank": i, "id": c["id"], "name": c.get("name"), "capacity": c["capacity"],
                "catchment_demand": c["catchment_demand"],
                f"demand_per_{unit[:-1]}": c["demand_per_capacity"], **common,
                "notice": doc.get("notice") or ""}
               for i, c in enumerate(doc["crowded"], start=1)]
    return areas, crowded


def _access_download(ext: str) -> Response:
    from ...coverage.export import xlsx_bytes

    a = _page_args()
    lang = current_lang()
    got = _access_view(a, lang)
    if got is None:
        return _waiting()
    doc = got["doc"]
    areas, crowded = _access_tables(doc, lang)
    caveats = _caveats(_spec(a), a)
    name = f"access-{doc['method']}-{a['mode']}-{a['minutes']:g}min"
    if ext == ".csv":
        return _attachment(_csv(*_table(areas)), "text/csv", name + ".csv")
    if ext == "-crowded.csv":
        return _attachment(_csv(*_table(crowded)), "text/csv", name + "-crowded.csv")
    return _attachment(xlsx_bytes([(_("各区县与全市", "Districts and city"), *_table(areas)),
                                   (_("最拥挤的站点", "Most crowded stations"),
                                    *_table(crowded))], **caveats), _XLSX, name + ".xlsx")


@bp.get("/planner/access.csv")
def access_csv():
    """The access view's district table (codes, names) with the city as its last row."""
    return _access_download(".csv")


@bp.get("/planner/access-crowded.csv")
def access_crowded_csv():
    """The access view's most crowded stations."""
    return _access_download("-crowded.csv")


@bp.get("/planner/access.xlsx")
def access_xlsx():
    """Both access tables, one sheet each."""
    return _access_download(".xlsx")


# --------------------------------------------------------------------------- target


def page_target(text: str | None) -> str:
    """The target as typed in the page's percentage field: a bare number is a
    percentage ("95" is 95%, "0.5" is 0.5%, as the field's label says). The API
    (``POST /api/v1/target``) keeps refusing a bare number above 1."""
    raw = (text or "").strip() or "100%"
    pct = raw.endswith(("%", "％"))
    try:
        value = float(raw[:-1] if pct else raw)
    except ValueError:
        return raw  # the core names it: not a share
    if value > 100.0:
        raise InvalidInput(f"target: {raw} is above 100; give a percentage in (0, 100] "
                           "such as 95", field="target")
    return raw if pct else f"{raw}%"


def _pct_up(x: float, target: float) -> str:
    """The most the candidates reach, rounded as the core's "at most" message rounds it:
    up, with the decimals it takes to stay below the target (or below 100%)."""
    from ...coverage.lscp import _pct_below

    if x >= 1.0:
        return "100%"
    return _pct_below(x, target if x < target else 1.0)


def _target(a: dict[str, Any], lang: str) -> dict[str, Any] | None:
    """The target run of the page's arguments (None: computing), through
    :func:`~locator.coverage.planning.target_run`."""
    from ...coverage.lscp import parse_target
    from ...coverage.planning import node_candidates, target_run

    target = parse_target(page_target(a["target"]))  # refused before any run
    source = a["candidates"]
    if source == "nodes" and a["engine"] != "network":
        raise InvalidInput("candidates: road nodes as candidate sites need the road-network "
                           "engine", field="candidates")
    spec = _spec(a)
    solver = a["solver"] or "auto"
    minutes = a["minutes"]
    data = _data()  # read here: the run has no app context

    def run() -> dict[str, Any]:
        cands = (node_candidates(spec, data.demand, minutes, 250.0) if source == "nodes"
                 else None)
        return target_run(spec, data, minutes, target=target, backup=a["backup"],
                          method=solver, candidates=cands,
                          candidates_from="gaps" if source == "gaps" else "uncovered",
                          time_limit=TARGET_TIME_LIMIT_S, lang=lang)

    got = _run(("target", *_base_key(a), a["at"], source, target, a["backup"], solver, lang),
               run)
    return None if got is None else {"spec": spec, "doc": got, "solver": solver}


def _target_view(a: dict[str, Any], lang: str) -> dict[str, Any] | None:
    from ...coverage.metrics import coverage_report

    got = _target(a, lang)
    if got is None:
        return None
    spec, doc = got["spec"], got["doc"]
    data = _data()
    rep = _run(("target-map", *_base_key(a), a["at"]), lambda: coverage_report(
        spec.engine, spec.stations, data.demand, minutes=[a["minutes"]],
        districts=data.districts))
    if rep is None:
        return None
    res = doc["lscp"]
    ctx, crs = _map(rep, spec.records, a["minutes"], lang)
    sites = doc["sites"]
    return {"kind": "target", "res": res, "sites": sites, "solver": got["solver"],
            "candidates": doc["candidates"]["count"],
            "candidates_source": doc["candidates"]["source"], "map": ctx,
            "time_limit": TARGET_TIME_LIMIT_S,
            "max_share": _pct_up(res["max_share"], res["target"]),
            "overlay": {"groups": [], "sites": _site_points(sites, crs)},
            "notice": doc.get("notice"),
            "downloads": {f: f"/planner/target-sites.{f}?{view_query(None)}"
                          for f in ("csv", "xlsx", "geojson")}}


@bp.get("/planner/target-sites.<ext>")
def target_download(ext: str):
    """The target view's new sites (named by district and nearest station) as CSV, XLSX
    or GeoJSON, with the page's arguments."""
    import orjson

    from ...coverage.export import csv_text, sites_geojson, sites_table, xlsx_bytes

    if ext not in ("csv", "xlsx", "geojson"):
        raise NotFound(f"no target download .{ext}; allowed: target-sites.csv, "
                       "target-sites.xlsx, target-sites.geojson")
    a = _page_args()
    lang = current_lang()
    got = _target(a, lang)
    if got is None:
        return _waiting()
    doc = got["doc"]
    caveats = _caveats(got["spec"], a)
    pct = f"{100 * doc['lscp']['target']:g}"
    name = (f"target-{pct}pct{'-backup' if a['backup'] else ''}-sites-{a['mode']}-"
            f"{a['minutes']:g}min.{ext}")
    if ext == "geojson":
        body = orjson.dumps(sites_geojson(doc["sites"], **caveats)).decode()
        return _attachment(body, "application/geo+json", name)
    header, rows = sites_table(doc["sites"], **caveats)
    if ext == "csv":
        return _attachment(csv_text(header, rows), "text/csv", name)
    return _attachment(xlsx_bytes([(_("达标所需站点", "Sites for the target"), header, rows)],
                                  **caveats), _XLSX, name)


VIEW_RUNS: dict[str, Callable[[dict[str, Any], str], dict[str, Any] | None]] = {
    "profile": _profile_view, "scenario": _scenario_view, "access": _access_view,
    "target": _target_view}

assert set(VIEW_RUNS) | {"coverage"} == set(VIEWS)
assert {p.name for p in PAGE_PARAMS} >= {"view", "day", "profile", "compare", "method",
                                         "target", "backup", "solver",
                                         "candidates"}

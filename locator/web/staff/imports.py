"""Bulk import from the browser: upload, map columns, choose the coordinate system,
preview on a map, dry run, import (one transaction, in a background thread with a
progress bar), result.

Each step is its own page and works without JavaScript; the script only animates the
progress bar and draws the preview map. The uploaded file stays on the server between
the steps (:class:`~locator.staff.imports.UploadStore`), bound to the account that uploaded it.
The work is done by the import library through :mod:`locator.staff.imports`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ...errors import InvalidInput
from ...staff import imports as work
from ...staff.roles import describe_scope
from ...stations.coords import CRS_CODES, from_wgs84, parse_crs, to_wgs84
from ...stations.model import EDITABLE_FIELDS
from ...stations.vocab import STATION_TYPES
from ...store.files import MAX_IMPORT_ROWS, FileError, propose_mapping, resolve_mapping
from ...store.import_messages import FIELD_LABELS_EN, FIELD_LABELS_ZH
from .. import get_registry
from ..i18n import current_lang
from ..i18n import gettext as _
from .auth import accounts, client_address, current_user
from .pages import bp, staff_page

F = TypeVar("F", bound=Callable[..., Any])

#: Rows drawn on the preview map.
PREVIEW_ROWS = 50
#: Cells of each column shown on the mapping page.
SAMPLE_CELLS = 3


class UploadTooLarge(HTTPException):
    """An upload over ``LOCATOR_MAX_UPLOAD_BYTES`` (the message in the page's language)."""

    code = 413

    def __init__(self, limit: int):
        mb = limit / 2**20
        size = f"{mb:.0f} MB" if mb >= 1 else f"{limit // 1024} KB"
        super().__init__(_(f"文件太大：每次导入最多 {size}。请拆分为几个较小的文件后分别导入。",
                           f"The file is too large: at most {size} per import. Split it into "
                           "smaller files and import them one by one."))


# ------------------------------------------------------------------------ shared helpers


def upload_dir() -> Path:
    return Path(current_app.config["LOCATOR_UPLOAD_DIR"]
                or Path(tempfile.gettempdir()) / "station-locator-uploads")


def uploads() -> work.UploadStore:
    ext = current_app.extensions
    if "locator.uploads" not in ext:
        ext["locator.uploads"] = work.UploadStore(upload_dir())
    return ext["locator.uploads"]


def mappings() -> work.MappingStore:
    ext = current_app.extensions
    if "locator.import_mappings" not in ext:
        ext["locator.import_mappings"] = work.MappingStore(get_registry().store.engine)
    return ext["locator.import_mappings"]


def districts() -> Any:
    """The district boundaries rows are assigned to (loaded once per app)."""
    ext = current_app.extensions
    if "locator.import_districts" not in ext:
        from ...coverage import load_xuzhou_districts

        ext["locator.import_districts"] = load_xuzhou_districts()
    return ext["locator.import_districts"]


def max_rows() -> int:
    return int(current_app.config["LOCATOR_MAX_IMPORT_ROWS"] or MAX_IMPORT_ROWS)


def upload_limit(fn: F) -> F:
    """Raise the body limit (``LOCATOR_MAX_CONTENT_LENGTH``) to ``LOCATOR_MAX_UPLOAD_BYTES``
    for this request, for a logged-in account only, and answer 413 in the page's
    language beyond it."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        limit = int(current_app.config["LOCATOR_MAX_UPLOAD_BYTES"])
        try:
            known = current_user() is not None
        except Exception:  # noqa: BLE001 - bad credentials: the view answers 401
            known = False
        if known:
            request.max_content_length = limit
        try:
            request.files  # noqa: B018 - parse the body now, under the limit
        except RequestEntityTooLarge:
            raise UploadTooLarge(limit if known else int(
                current_app.config["MAX_CONTENT_LENGTH"])) from None
        return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def file_message(e: Exception) -> str:
    lang = current_lang()
    if isinstance(e, FileError):
        return e.text(lang)
    if hasattr(e, "message_in"):
        return e.message_in(lang)  # type: ignore[no-any-return]
    return str(e)


def field_choices(lang: str) -> list[tuple[str, str]]:
    labels = FIELD_LABELS_EN if lang == "en" else FIELD_LABELS_ZH
    return [(f, f"{labels.get(f, f)} ({f})") for f in EDITABLE_FIELDS]


def crs_choices(lang: str) -> list[tuple[str, str]]:
    en = lang == "en"
    names = {"wgs84": ("WGS-84（GPS、天地图、OpenStreetMap）",
                       "WGS-84 (GPS, Tianditu, OpenStreetMap)"),
             "gcj02": ("GCJ-02（高德、腾讯、微信）", "GCJ-02 (Amap, Tencent, WeChat)"),
             "bd09": ("BD-09（百度）", "BD-09 (Baidu)")}
    return [(c, names[c][1] if en else names[c][0]) for c in CRS_CODES]


def _lang_arg() -> dict[str, str]:
    return {"lang": "en"} if current_lang() == "en" else {}


def _load(uid: str) -> tuple[Any, work.Upload]:
    user = current_user()
    return user, uploads().get(uid, user)


def _sheet(up: work.Upload):
    return work.read_upload(uploads().data(up), up.filename, max_rows=max_rows())


# ------------------------------------------------------------------------ step 0: upload


@bp.get("/import")
@staff_page("station.import")
def import_page():
    return _upload_page()


def _upload_page(error: str | None = None, status: int = 200) -> Response:
    user = current_user()
    limit = int(current_app.config["LOCATOR_MAX_UPLOAD_BYTES"])
    html = render_template("staff/import.html", error=error, saved=mappings().all(),
                           max_mb=limit / 2**20, max_rows=max_rows(),
                           scope=describe_scope(user.scope, current_lang()))
    return Response(html, status=status, mimetype="text/html")


@bp.post("/import")
@upload_limit
@staff_page("station.import")
def import_upload():
    f = request.files.get("file")
    if f is None or not f.filename:
        return _upload_page(_("请选择要导入的文件（CSV、XLSX 或 GeoJSON）。",
                              "Choose a file to import (CSV, XLSX or GeoJSON)."), 400)
    data = f.read()
    try:
        work.read_upload(data, f.filename, max_rows=max_rows())
    except InvalidInput as e:
        return _upload_page(file_message(e), 400)
    up = uploads().put(current_user(), f.filename, data)
    return redirect(url_for("staff.import_mapping", uid=up.id, **_lang_arg()), code=303)


# ------------------------------------------------------------------------ step 1: mapping


@bp.get("/import/<uid>")
@staff_page("station.import")
def import_mapping(uid: str):
    _user, up = _load(uid)
    try:
        sheet = _sheet(up)
    except InvalidInput as e:
        return _upload_page(file_message(e), 400)
    return _mapping_page(up, sheet)


def _mapping_page(up: work.Upload, sheet: Any, *, error: str | None = None,
                  status: int = 200, chosen: dict[str, str | None] | None = None,
                  crs: str | None = None) -> Response:
    lang = current_lang()
    fitting = mappings().fitting(sheet.headers)
    applied = None
    want = request.args.get("saved")
    if chosen is None and want:
        applied = next((m for m in fitting if m.name == want), None)
    elif chosen is None and up.mapping is None and fitting and fitting[0].same_shape(
            sheet.headers):
        applied = fitting[0]  # a saved mapping made for files of exactly this shape
    proposal = propose_mapping(sheet.headers)
    columns = dict(proposal.columns)
    if up.mapping is not None:
        columns.update({h: f for h, f in up.mapping.items() if h in columns})
    if applied is not None:
        columns.update(resolve_mapping(sheet.headers, applied.columns, check=False).columns)
    if chosen is not None:
        columns.update(chosen)
    crs = crs or (applied.crs if applied else None) or up.crs
    rows = []
    for i, h in enumerate(sheet.headers):
        cells = [r[1][i] for r in sheet.rows[:SAMPLE_CELLS] if i < len(r[1])]
        rows.append({"index": i, "header": h, "field": columns.get(h),
                     "unknown": h in proposal.unknown, "ignored": h in proposal.ignored,
                     "samples": ["" if c is None else str(c) for c in cells]})
    html = render_template(
        "staff/import_mapping.html", up=up, rows=rows, fields=field_choices(lang),
        crs_options=crs_choices(lang), crs=crs, crs_from_saved=bool(applied and applied.crs),
        saved=fitting, applied=applied, error=error, n_rows=len(sheet.rows),
        encoding=sheet.encoding, kind=sheet.kind)
    return Response(html, status=status, mimetype="text/html")


@bp.post("/import/<uid>")
@staff_page("station.import")
def import_mapping_post(uid: str):
    user, up = _load(uid)
    try:
        sheet = _sheet(up)
    except InvalidInput as e:
        return _upload_page(file_message(e), 400)
    chosen: dict[str, str | None] = {}
    for i, h in enumerate(sheet.headers):
        v = (request.form.get(f"col-{i}") or "").strip()
        chosen[h] = v if v in EDITABLE_FIELDS else None
    crs_raw = (request.form.get("crs") or "").strip()
    if not crs_raw:
        return _mapping_page(up, sheet, chosen=chosen, status=400, error=_(
            "请选择坐标系：坐标取自高德或腾讯地图为 GCJ-02，取自百度地图为 BD-09，"
            "GPS 或天地图为 WGS-84。",
            "Choose the coordinate system: GCJ-02 for points taken from Amap or Tencent, "
            "BD-09 for Baidu, WGS-84 for GPS or Tianditu."))
    try:
        crs = parse_crs(crs_raw)
        mapping = resolve_mapping(sheet.headers, chosen)
    except InvalidInput as e:
        return _mapping_page(up, sheet, chosen=chosen, crs=crs_raw, status=400,
                             error=file_message(e))
    name = (request.form.get("mapping_name") or "").strip()
    if name:
        try:
            mappings().save(name, mapping, crs=crs, user=user, client=client_address())
        except InvalidInput as e:
            return _mapping_page(up, sheet, chosen=chosen, crs=crs, status=400,
                                 error=file_message(e))
        up.mapping_name = name
    up.mapping, up.crs = dict(mapping.columns), crs
    uploads().save(up)
    return redirect(url_for("staff.import_check", uid=uid, **_lang_arg()), code=303)


# ------------------------------------------------------------------------ step 2: dry run


def _plan(up: work.Upload, user: Any) -> work.UploadPlan:
    return work.plan_upload(_sheet(up), mapping=up.mapping, crs=up.crs or "wgs84",
                            existing=get_registry().store.all(), districts=districts(),
                            user=user, skip_errors=up.skip_errors)


@bp.get("/import/<uid>/check")
@staff_page("station.import")
def import_check(uid: str):
    user, up = _load(uid)
    if up.crs is None or up.mapping is None:
        return redirect(url_for("staff.import_mapping", uid=uid, **_lang_arg()))
    try:
        result = _plan(up, user)
    except InvalidInput as e:
        return _mapping_page(up, _sheet(up), status=400, error=file_message(e))
    lang = current_lang()
    from ..maps import LocatorMap, render_parts

    tiles = current_app.config["LOCATOR_TILES"]
    m = LocatorMap(key="import-preview", location=(34.26, 117.18), zoom=12, tiles=tiles,
                   tianditu_key=current_app.config["LOCATOR_TIANDITU_KEY"], lang=lang,
                   css_class="import-map", label=_("导入预览地图", "Import preview map"))
    preview = _preview(result, m.crs_code, up.crs or "wgs84", lang)
    status = uploads().status(up)
    html = render_template(
        "staff/import_check.html", up=up, result=result, plan=result.plan,
        counts=result.counts(), summary=work.summary(result.counts(), lang),
        crs_label=dict(crs_choices(lang))[up.crs or "wgs84"], map=render_parts(m),
        preview=preview, preview_rows=PREVIEW_ROWS, job=status)
    return Response(html, mimetype="text/html")


def _preview(result: work.UploadPlan, map_crs: str, crs: str, lang: str) -> dict[str, Any]:
    """The first rows where they will land (in the map's CRS), where they would land had
    the file used each other coordinate system, and the stored stations nearby."""
    import numpy as np

    rows = sorted(result.plan.rows, key=lambda r: r.row)[:PREVIEW_ROWS]
    names = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09"}
    labels = {"create": _("新建", "new"), "update": _("更新", "update"),
              "unchanged": _("未变", "unchanged"), "existing": _("已有站点", "stored stations"),
              "title": _("按 %s 的位置", "As %s") % names[crs],
              "row": _("第 %d 行", "row %d")}
    for c in CRS_CODES:
        labels["alt_" + c] = _("若坐标系为 %s", "if it were %s") % names[c]
    out: dict[str, Any] = {"crs": crs, "rows": [], "alternatives": {}, "existing": [],
                           "labels": labels}
    if not rows:
        return out
    lon = np.array([r.station.lon for r in rows])
    lat = np.array([r.station.lat for r in rows])
    mx, my = from_wgs84(lon, lat, map_crs)
    for r, x, y in zip(rows, mx.tolist(), my.tolist(), strict=True):
        out["rows"].append({"row": r.row, "name": r.station.name, "action": r.action,
                            "type": STATION_TYPES[r.station.type].label(lang),
                            "district": r.station.district_name or "",
                            "lon": round(x, 7), "lat": round(y, 7)})
    fx, fy = from_wgs84(lon, lat, crs)  # the file's own numbers
    for other in CRS_CODES:
        if other == crs:
            continue
        wx, wy = to_wgs84(fx, fy, other)
        ax, ay = from_wgs84(wx, wy, map_crs)
        out["alternatives"][other] = [[round(a, 7), round(b, 7)]
                                      for a, b in zip(ax.tolist(), ay.tolist(), strict=True)]
    pad = 0.01
    box = (lon.min() - pad, lat.min() - pad, lon.max() + pad, lat.max() + pad)
    near = [s for s in get_registry().index.select(statuses=None)
            if box[0] <= s.lon <= box[2] and box[1] <= s.lat <= box[3]][:500]
    if near:
        ex, ey = from_wgs84(np.array([s.lon for s in near]), np.array([s.lat for s in near]),
                            map_crs)
        out["existing"] = [[s.name, round(a, 7), round(b, 7)]
                           for s, a, b in zip(near, ex.tolist(), ey.tolist(), strict=True)]
    return out


@bp.post("/import/<uid>/skip")
@staff_page("station.import")
def import_skip(uid: str):
    _user, up = _load(uid)
    up.skip_errors = request.form.get("skip") == "1"
    uploads().save(up)
    return redirect(url_for("staff.import_check", uid=uid, **_lang_arg()), code=303)


# ------------------------------------------------------------------------ step 3: import


def start_import(up: work.Upload, user: Any) -> bool:
    """Start the real import of ``up`` in a background thread (False if one was started
    already). It plans again against the stations as they are then."""
    store = uploads()
    if not store.claim_run(up):
        return False
    registry = get_registry()
    engine = accounts().store.engine
    sheet = _sheet(up)
    dist = districts()
    client = client_address()

    def job(report: Callable[..., None]) -> dict[str, Any]:
        try:
            result = work.plan_upload(
                sheet, mapping=up.mapping, crs=up.crs or "wgs84",
                existing=registry.store.all(), districts=dist, user=user,
                skip_errors=up.skip_errors,
                progress=lambda n: report("checking", n, len(sheet.rows)))
            todo = len(result.plan.to_store())
            report("writing", 0, todo)
            done = [0]

            def wrote(n: int) -> None:
                done[0] += n
                report("writing", done[0], todo)

            out = work.apply_upload(registry, engine, result, user=user, client=client,
                                    filename=up.filename, upload_id=up.id, progress=wrote)
        except Exception as e:
            work.audit_failure(engine, user=user, client=client, filename=up.filename,
                               reason=getattr(e, "en", None) or str(e))
            raise
        return {"counts": out.counts, "stored": out.stored}

    work.start_job(store, up, job, total=len(sheet.rows))
    return True


@bp.post("/import/<uid>/run")
@staff_page("station.import")
def import_run(uid: str):
    user, up = _load(uid)
    if up.crs is None or up.mapping is None:
        return redirect(url_for("staff.import_mapping", uid=uid, **_lang_arg()), code=303)
    start_import(up, user)
    return redirect(url_for("staff.import_result", uid=uid, **_lang_arg()), code=303)


def status_json(up: work.Upload, lang: str) -> dict[str, Any]:
    st = dict(uploads().status(up) or {"state": "not_started", "done": 0, "total": 0})
    total = max(1, int(st.get("total") or 0))
    st["percent"] = 100 if st.get("state") == "done" else min(
        99, int(100 * int(st.get("done") or 0) / total))
    if st.get("counts"):
        st["summary"] = work.summary(st["counts"], lang)
    if st.get("state") == "failed":
        st["message"] = st.get("message_en" if lang == "en" else "message_zh")
    st["stage_label"] = {"checking": _("检查数据行", "Checking rows"),
                         "writing": _("写入数据库（单个事务）", "Writing (one transaction)"),
                         "done": _("完成", "Done")}.get(st.get("stage", ""), "")
    return st


@bp.get("/import/<uid>/status")
@staff_page("station.import")
def import_status(uid: str):
    _user, up = _load(uid)
    resp = jsonify(status_json(up, current_lang()))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/import/<uid>/result")
@staff_page("station.import")
def import_result(uid: str):
    _user, up = _load(uid)
    st = status_json(up, current_lang())
    html = render_template("staff/import_result.html", up=up, job=st,
                           status_url=url_for("staff.import_status", uid=uid, **_lang_arg()))
    return Response(html, mimetype="text/html")


def _register_api(state: Any) -> None:
    """``POST /api/v1/imports`` is registered with the app the staff pages go to."""
    from ..api.imports import _register

    _register(state)


bp.record_once(_register_api)

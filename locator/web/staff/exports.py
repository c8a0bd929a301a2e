"""Station downloads for staff: CSV (UTF-8 with BOM), XLSX, GeoJSON or GeoPackage, in
WGS-84, GCJ-02 or BD-09, of the stations in the account's scope. Each download is
audited (``station.export``). The files are written by :mod:`locator.store.exporting`,
which labels sample data and neutralises formula cells."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Response, request

from ...errors import InvalidInput
from ...staff.roles import in_scope
from ...stations.coords import parse_crs
from ...store.accounts import insert_audit, utc_now
from ...store.exporting import export_stations
from .. import get_registry
from ..i18n import gettext as _
from .auth import client_address, current_user
from .pages import bp, staff_page

FORMATS = {"csv": ("text/csv; charset=utf-8", ".csv"),
           "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    ".xlsx"),
           "geojson": ("application/geo+json", ".geojson"),
           "gpkg": ("application/geopackage+sqlite3", ".gpkg")}


@bp.get("/export")
@staff_page()
def export():
    fmt = (request.args.get("format") or "csv").lower()
    if fmt not in FORMATS:
        raise InvalidInput(_(f"不支持的格式“{fmt}”；可选：{'、'.join(FORMATS)}",
                             f"format {fmt!r}: use one of {', '.join(FORMATS)}"),
                           field="format")
    crs = parse_crs(request.args.get("crs") or "wgs84")
    include_closed = request.args.get("include_closed", "1") not in ("0", "false", "no")
    user = current_user()
    assert user is not None
    stations = [s for s in get_registry().index.stations()
                if in_scope(user.scope, s.district_adcode)
                and (include_closed or s.status != "closed")]
    stations.sort(key=lambda s: s.id)
    mime, suffix = FORMATS[fmt]
    with tempfile.TemporaryDirectory(prefix="locator-export-") as tmp:
        path = Path(tmp) / f"stations{suffix}"
        n = export_stations(stations, path, crs=crs)
        data = path.read_bytes()
    with get_registry().store.engine.begin() as conn:
        insert_audit(conn, at=utc_now(), actor=user.actor, action="station.export",
                     target="stations", result="ok", client=client_address(),
                     detail={"format": fmt, "crs": crs, "rows": n, "scope": user.scope})
    resp = Response(data, mimetype=mime.split(";")[0])
    if "charset" in mime:
        resp.headers["Content-Type"] = mime
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="stations-{crs}{suffix}"')
    resp.headers["Cache-Control"] = "no-store"
    return resp

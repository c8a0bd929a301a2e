"""A station's A4 poster, for staff to print and put up at the door:
``GET /staff/stations/<id>/poster``.

The poster is print-ready HTML (``@page { size: A4 }``; the browser's "print" or "save
as PDF" makes the paper or the PDF): the station's name, type, address, opening hours in
plain words, amenities, its public code in large letters and a QR code of the absolute
``/s/<code>`` URL, with the report line, Chinese first and English below. The QR code
is an inline SVG made here by ``segno`` (pure Python), so no network service is used.

The URL's base is the ``public_url`` setting (``LOCATOR_PUBLIC_URL``) when set, else the
address the request came to (so a poster printed from the office intranet should use the
setting).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, render_template, request, url_for
from markupsafe import Markup

from ...errors import NotFound
from ...staff.errors import Forbidden
from ...staff.roles import describe_scope, in_scope
from ...stations.hours_text import describe_hours
from ...stations.model import Station
from ...stations.vocab import AMENITIES, STATION_TYPES, STATUSES
from .. import get_registry
from ..i18n import gettext as _
from .auth import current_user
from .pages import bp, staff_page


def public_base_url() -> str:
    """``https://host[:port]`` that posters print: the setting, else this request's."""
    base = (current_app.config.get("LOCATOR_PUBLIC_URL") or "").strip()
    if base and "://" not in base:
        base = "https://" + base
    return (base or request.host_url).rstrip("/")


def code_url(code: str) -> str:
    """The absolute ``/s/<code>`` URL a poster's QR code holds."""
    return public_base_url() + url_for("codes.by_code", code=code)


def qr_svg(data: str, *, title: str) -> Markup:
    """``data`` as a QR code, an inline SVG that scales to its box (error correction Q:
    a quarter of the code may be dirty or torn and it still reads)."""
    import segno

    qr = segno.make(data, error="q", boost_error=False)
    svg = qr.svg_inline(scale=1, border=4, dark="#000", light="#fff", omitsize=True,
                        svgclass="poster-qr", lineclass=None, title=title)
    return Markup(svg)  # segno escapes the title; the rest is its own markup


def _poster_station(sid: str) -> Station:
    user = current_user()
    try:
        st = get_registry().index.get(sid)
    except NotFound:
        raise NotFound(_(f"没有编号为 {sid!r} 的站点（已删除的站点不能打印海报）",
                         f"station {sid!r} does not exist (deleted stations have no "
                         "poster)")) from None
    if user is None or not in_scope(user.scope, st.district_adcode):
        scope = user.scope if user else ""
        raise Forbidden(f"账号权限范围为 {describe_scope(scope)}，不能打印该范围以外站点的海报",
                        f"the account's scope is {describe_scope(scope, 'en')}; it cannot "
                        "print posters of stations outside it", right="staff.read",
                        scope=scope)
    return st


def poster_context(st: Station) -> dict[str, Any]:
    """Everything the poster shows, in both languages."""
    url = code_url(st.code)
    return {
        "st": st, "url": url,
        "code_groups": (st.code[:3], st.code[3:]),
        "type_zh": STATION_TYPES[st.type].label("zh"),
        "type_en": STATION_TYPES[st.type].label("en"),
        "hours_zh": describe_hours(st.opening_hours, "zh"),
        "hours_en": describe_hours(st.opening_hours, "en"),
        "amenities": [(AMENITIES[a].label("zh"), AMENITIES[a].label("en"))
                      for a in st.amenities],
        "status_zh": STATUSES[st.status].label("zh"),
        "status_en": STATUSES[st.status].label("en"),
        "qr": qr_svg(url, title=f"{st.name} {url}"),
    }


@bp.get("/stations/<sid>/poster")
@staff_page()
def station_poster(sid: str):
    st = _poster_station(sid)
    html = render_template("staff/poster.html", sample_data=st.is_sample,
                           **poster_context(st))
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp

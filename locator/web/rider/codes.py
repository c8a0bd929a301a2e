"""Station codes for people: ``/s/<code>`` (the link in a poster's QR code) opens the
station's page, and the check-in form of that page posts here when JavaScript is off.

A code is forgiving as typed from a poster (lower case, spaces, dashes, O for 0, I/L
for 1: :func:`locator.stations.codes.normalize_code`). The redirect adds ``via=qr``,
which is what shows the "I'm here" check-in form on the station page (see
``templates/partials/station_checkin.html``): the form is for people standing at the
station, who reach the page from its poster, not for everyone browsing the map.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from ...errors import NotFound
from ...stations.codes import CODE_LENGTH
from ...upkeep.checkins import OCCUPATION_LABELS
from ..api.checkins import record_checkin, station_for
from ..i18n import current_lang

bp = Blueprint("codes", __name__)

#: Longer than any code typed with spaces and dashes; longer input is not a code.
_MAX_TYPED = 40


def _lang_arg() -> dict[str, Any]:
    lang = (request.args.get("lang") or "").lower()[:2]
    return {"lang": lang} if lang in ("zh", "en") else {}


def _unknown(code: str) -> Response:
    """The code-entry page: 404 naming an unknown code, 200 when none was typed yet."""
    html = render_template("code_unknown.html", code=code[:_MAX_TYPED],
                           code_length=CODE_LENGTH)
    return Response(html, status=404 if code else 200, mimetype="text/html")


@bp.get("/s")
def code_form():
    """The retype form of the unknown-code page sends ``?code=``."""
    code = (request.args.get("code") or "").strip()
    if not code:
        return _unknown("")
    return redirect(url_for("codes.by_code", code=code[:_MAX_TYPED], **_lang_arg()), code=302)


@bp.get("/s/<code>")
def by_code(code: str):
    """Redirect (302) to the page of the (not deleted) station with this code."""
    try:
        st = station_for(code=code) if len(code) <= _MAX_TYPED else None
    except NotFound:
        st = None
    if st is None:
        return _unknown(code)
    return redirect(url_for("pages.station_page", sid=st.id, via="qr", **_lang_arg()),
                    code=302)


@bp.post("/s/<code>/checkin")
def checkin_form(code: str):
    """The check-in form without JavaScript: record, then back to the station page (303)
    with a thank-you (``checkin=done``, or ``again`` for a repeat)."""
    st = station_for(code=code[:_MAX_TYPED])
    # past the limit, TooManyCheckins is the 429 page (web/errors.py)
    result = record_checkin(st, request.form.get("occupation", "")[:40])
    return redirect(url_for("pages.station_page", sid=st.id, via="qr",
                            checkin="done" if result.counted else "again", **_lang_arg())
                    + "#checkin", code=303)


def checkin_choices() -> list[tuple[str, str]]:
    """(code, label) of the occupations, in the page's language."""
    en = current_lang() == "en"
    return [(code, en_ if en else zh) for code, (zh, en_) in OCCUPATION_LABELS.items()]


@bp.app_context_processor
def _checkin_helpers() -> dict[str, Any]:
    # A function, so that nothing is computed for templates that do not call it.
    return {"checkin_choices": checkin_choices}

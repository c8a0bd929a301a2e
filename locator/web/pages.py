"""Pages for people: the rider finder (/), the all-stations map (/map), station pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from . import get_registry

bp = Blueprint("pages", __name__)


@bp.get("/")
def rider():
    sts = get_registry().index.stations()
    return render_template("rider.html", sample_data=any(s.is_sample for s in sts))

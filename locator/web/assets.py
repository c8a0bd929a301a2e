"""Third-party browser assets served by the app itself (no CDN): Leaflet comes from the
``django-js-lib-leaflet`` package on PyPI (plain files; Django is not needed)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, send_from_directory

bp = Blueprint("assets", __name__)


@lru_cache(maxsize=1)
def leaflet_dir() -> Path:
    import js_lib_leaflet

    return Path(js_lib_leaflet.__file__).resolve().parent / "static" / "js_lib_leaflet"


LEAFLET_VERSION = "1.9.4"
_ALLOWED = {"leaflet.js", "leaflet.css", "images/layers.png", "images/layers-2x.png",
            "images/marker-icon.png", "images/marker-icon-2x.png", "images/marker-shadow.png"}


@bp.get("/vendor/leaflet/<path:name>")
def leaflet(name: str):
    if name not in _ALLOWED:
        abort(404)
    return send_from_directory(leaflet_dir(), name, max_age=86400)

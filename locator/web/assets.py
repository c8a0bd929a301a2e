"""Browser assets: third-party ones served by the app itself (no CDN; Leaflet comes from
the ``django-js-lib-leaflet`` package on PyPI, plain files, Django is not needed), and
:func:`inline_static`, which puts the app's own small files inside a page."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, send_from_directory
from markupsafe import Markup

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


# --------------------------------------------------------------------------- inlining

#: What must not occur in a file put inside a <style> / <script> element: the end tag,
#: and for scripts the markup that switches the HTML parser's script states.
_UNSAFE = {"css": ("</style",), "js": ("</script", "<script", "<!--")}


@lru_cache(maxsize=64)
def _static_text(folder: str, name: str) -> str:
    path = Path(folder) / name
    text = path.read_text(encoding="utf-8")
    for bad in _UNSAFE[path.suffix.lstrip(".")]:
        if bad in text.lower():
            raise ValueError(f"{name} contains {bad!r} and cannot be inlined")
    return text


@bp.app_template_global()
def inline_static(*names: str) -> Markup:
    """The text of the app's own static files, to put inside a ``<style>`` or
    ``<script>`` element of a page.

    The rider page inlines its styles and scripts: on a weak signal (Fast 3G has a
    562 ms round trip) every separate file the first result waits for costs another
    round trip, more than the bytes they add to the page. Read once per process."""
    from flask import current_app

    folder = current_app.static_folder or ""
    return Markup("\n".join(_static_text(folder, n) for n in names))

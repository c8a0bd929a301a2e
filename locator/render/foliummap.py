"""The base of every map the project draws with folium: the web pages' maps
(:mod:`locator.web.maps`) and the coverage report's (:mod:`locator.coverage.report_map`).

:class:`BareMap` is a folium map that links no assets of its own (the embedding page or
report provides Leaflet, same-origin or inlined: no CDN), opens fitted to ``bounds``
when it has them, shows a metric scale, and takes its tile layers as plain mappings.
:func:`render_parts` renders a map for embedding in a page of our own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import folium
from branca.element import Figure
from folium.template import Template
from markupsafe import Markup

__all__ = ["BareMap", "MAP_SCRIPT", "render_parts"]

#: The body of a map's ``script`` macro: create the Leaflet map, fit or centre it, scale.
MAP_SCRIPT = """
var {{ this.get_name() }} = L.map({{ this.get_name()|tojson }}, {
    crs: L.CRS.EPSG3857,
    ...{{ this.options|tojavascript }}
});
{%- if this.bounds %}
{{ this.get_name() }}.fitBounds({{ this.bounds|tojson }},
    {padding: [{{ this.fit_padding }}, {{ this.fit_padding }}], maxZoom: 15});
{%- else %}
{{ this.get_name() }}.setView({{ this.location|tojson }}, {{ this.options.zoom|tojson }});
{%- endif %}
L.control.scale({imperial: false}).addTo({{ this.get_name() }});
"""


def map_template(html: str, script_tail: str = "") -> Template:
    """A map template: the given ``html`` macro body, and :data:`MAP_SCRIPT` followed by
    ``script_tail`` as the ``script`` macro."""
    return Template("{% macro html(this, kwargs) %}" + html + "{% endmacro %}"
                    "{% macro script(this, kwargs) %}" + MAP_SCRIPT + script_tail
                    + "{% endmacro %}")


class BareMap(folium.Map):
    """A folium map without asset links, zoom 3-19, opened on ``bounds`` if set.

    Subclasses give a ``_template`` made by :func:`map_template` and may set
    ``default_js``/``default_css`` per instance (folium's class-level lists are shared
    by every map and mutated in place by ``add_js_link``).
    """

    fit_padding = 12

    def __init__(self, *, location: Sequence[float], zoom: int = 11, label: str = ""):
        super().__init__(location=list(location), zoom_start=zoom, tiles=None,
                         prefer_canvas=True)
        self.default_js: list[tuple[str, str]] = []
        self.default_css: list[tuple[str, str]] = []
        self.options.update(max_zoom=19, min_zoom=3)
        self.label = label
        #: [[south, west], [north, east]] in the map's CRS: open fitted to it instead.
        self.bounds: list[list[float]] | None = None

    def add_tiles(self, sources: Iterable[Mapping[str, Any]]) -> None:
        """Add XYZ tile layers: mappings with ``name``, ``url``, ``attribution`` and
        optionally ``subdomains``, ``max_zoom`` and ``overlay``. With more than one layer
        the base layers appear in the layer control."""
        sources = list(sources)
        for src in sources:
            zmax = src.get("max_zoom", 18)
            folium.TileLayer(tiles=src["url"], attr=src["attribution"], name=src["name"],
                             subdomains=src.get("subdomains", "abc"), max_zoom=zmax,
                             max_native_zoom=zmax, overlay=bool(src.get("overlay")),
                             control=len(sources) > 1 and not src.get("overlay")).add_to(self)


def render_parts(m: folium.Map) -> tuple[Markup, Markup, Markup]:
    """``(header, html, script)`` of a rendered map: asset links for ``<head>``, the map's
    element, and its script for a ``<script>`` after it. folium's charset meta tag is
    dropped (the page sets its own)."""
    # branca annotates get_root() as returning an Element; a map's root is its Figure
    fig = cast(Figure, m.get_root())
    fig.header._children.pop("meta_http", None)
    fig.render()
    return (Markup(fig.header.render()), Markup(fig.html.render()),
            Markup(fig.script.render()))

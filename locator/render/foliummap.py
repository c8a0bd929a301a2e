"""The base of every map the project draws with folium: the web pages' maps
(:mod:`locator.web.maps`) and the coverage report's (:mod:`locator.coverage.report_map`).

:class:`BareMap` is a folium map that links no assets of its own (the embedding page or
report provides Leaflet, same-origin or inlined: no CDN), opens fitted to ``bounds``
when it has them, shows a metric scale, and takes its tile layers as plain mappings.
:func:`render_parts` renders a map for embedding in a page of our own.

Every map is rendered in a frame, with a strip at its bottom left for the notice that
maps published in China carry: the base map's source and the map approval number
(审图号; see :mod:`.basemap`). The strip is below the map's viewport, not over it, so it
never covers a marker or a popup, and it has no close button: it is a legal notice. Its
layout and colours are inline styles, so that it looks the same in the self-contained
report and before a page's stylesheets arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import folium
from branca.element import Figure
from folium.template import Template
from markupsafe import Markup

__all__ = ["BareMap", "MAP_SCRIPT", "map_template", "render_parts"]

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


#: Inline styles of the frame (a flex column: the viewport, then the notice strip), with
#: ``fill`` when it fills its positioned parent; of the viewport's box; of the notice
#: (dark grey on white: contrast 11.6:1).
FRAME_STYLE = "display:flex;flex-direction:column"
FRAME_FILL_STYLE = FRAME_STYLE + ";position:absolute;top:0;right:0;bottom:0;left:0"
VIEW_STYLE = "position:relative;flex:1 1 auto;min-height:0"
NOTICE_STYLE = ("flex:0 0 auto;margin:0;padding:2px 8px;background:#fff;color:#343a40;"
                "border-top:1px solid #dee2e6;font-size:.75rem;line-height:1.45;"
                "text-align:left;overflow-wrap:anywhere")

#: The frame around a map's own element (the ``html`` given to :func:`map_template`).
_FRAME_OPEN = """
<div class="map-frame{{ ' map-fill' if this.fill_parent else '' }}
{%- if this.frame_class %} {{ this.frame_class|e }}{% endif %}"
 style="{{ this.frame_style }}"><div class="map-view" style="{{ this.view_style }}">"""
_FRAME_CLOSE = """</div>
<p class="map-notice" style="{{ this.notice_style }}"
{%- if this.notice_lang %} lang="{{ 'en' if this.notice_lang == 'en' else 'zh-CN' }}"{% endif %}>
{%- for line in this.notice_lines %}
{%- if not loop.first %} <span aria-hidden="true">·</span> {% endif -%}
<span class="map-notice-item">{{ line|e }}</span>{% endfor %}</p></div>
"""


def map_template(html: str, script_tail: str = "") -> Template:
    """A map template: the given ``html`` macro body in the map's frame (with the notice
    strip), and :data:`MAP_SCRIPT` followed by ``script_tail`` as the ``script`` macro."""
    return Template("{% macro html(this, kwargs) %}" + _FRAME_OPEN + html + _FRAME_CLOSE
                    + "{% endmacro %}{% macro script(this, kwargs) %}" + MAP_SCRIPT
                    + script_tail + "{% endmacro %}")


class BareMap(folium.Map):
    """A folium map without asset links, zoom 3-19, opened on ``bounds`` if set.

    Subclasses give a ``_template`` made by :func:`map_template` and may set
    ``default_js``/``default_css`` per instance (folium's class-level lists are shared
    by every map and mutated in place by ``add_js_link``).

    The map's frame fills its positioned parent (``fill_parent``, the coverage report's
    map box) unless a subclass says otherwise; ``frame_class`` adds a class to it. The
    notice strip shows ``notice`` (set by :meth:`add_tiles` from the tile mappings);
    a map given no notice names its base layers in both languages.
    """

    fit_padding = 12
    fill_parent = True
    frame_class = ""
    view_style = VIEW_STYLE
    notice_style = NOTICE_STYLE

    def __init__(self, *, location: Sequence[float], zoom: int = 11, label: str = ""):
        super().__init__(location=list(location), zoom_start=zoom, tiles=None,
                         prefer_canvas=True)
        self.default_js: list[tuple[str, str]] = []
        self.default_css: list[tuple[str, str]] = []
        self.options.update(max_zoom=19, min_zoom=3)
        self.label = label
        #: [[south, west], [north, east]] in the map's CRS: open fitted to it instead.
        self.bounds: list[list[float]] | None = None
        #: The lines of the notice strip (base map source, approval number).
        self.notice: tuple[str, ...] = ()
        #: The language of the notice (``zh``/``en``; ``""`` for the bilingual fallback).
        self.notice_lang = ""
        self._base_names: list[str] = []

    @property
    def frame_style(self) -> str:
        return FRAME_FILL_STYLE if self.fill_parent else FRAME_STYLE

    @property
    def notice_lines(self) -> tuple[str, ...]:
        """``notice``, or without one the base layers' names in both languages."""
        if self.notice:
            return self.notice
        names = " / ".join(self._base_names) or "无 none"
        return (f"底图 Base map：{names}",)

    def add_tiles(self, sources: Iterable[Mapping[str, Any]]) -> None:
        """Add XYZ tile layers: mappings with ``name``, ``url``, ``attribution`` and
        optionally ``subdomains``, ``max_zoom`` and ``overlay``. With more than one layer
        the base layers appear in the layer control.

        A mapping may carry ``notice`` (a list of lines) and ``lang``: the first one
        given becomes the map's notice (:class:`~.basemap.BaseMap` puts it on the base
        layer). A mapping without ``url`` draws nothing and only carries a notice (a map
        without a base map)."""
        sources = list(sources)
        layers = [src for src in sources if src.get("url")]
        for src in sources:
            if src.get("notice") and not self.notice:
                self.notice = tuple(str(line) for line in src["notice"])
                self.notice_lang = str(src.get("lang") or "")
        for src in layers:
            zmax = src.get("max_zoom", 18)
            if not src.get("overlay"):
                self._base_names.append(str(src["name"]))
            folium.TileLayer(tiles=src["url"], attr=src["attribution"], name=src["name"],
                             subdomains=src.get("subdomains", "abc"), max_zoom=zmax,
                             max_native_zoom=zmax, overlay=bool(src.get("overlay")),
                             control=len(layers) > 1 and not src.get("overlay")).add_to(self)


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

"""The rider page on a weak signal: its own styles and scripts are inside the page, the
map library waits in a template until rider.js loads it, and a file that could end the
element it is put in is refused rather than inlined."""

from __future__ import annotations

import re

import pytest

from locator.web import create_app
from locator.web.assets import _static_text


@pytest.fixture()
def client(registry):
    app = create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                      "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
    return app.test_client()


def _outside_templates(html: str) -> str:
    return re.sub(r"<template\b.*?</template>", "", html, flags=re.S)


def test_rider_page_loads_nothing_before_its_first_result(client, app_static):
    html = client.get("/").get_data(as_text=True)
    live = _outside_templates(html)
    # No stylesheet or script file is fetched by the page itself...
    assert re.findall(r'<link[^>]+rel="stylesheet"', live) == []
    assert re.findall(r"<script[^>]+\bsrc=", live) == []
    # ...because their text is in it, as shipped.
    for name in ("base.css", "rider.css", "rider.js", "offline.js", "search.js", "alerts.js"):
        text = (app_static / name).read_text(encoding="utf-8")
        assert text.strip()[:200] in html, name
    # The map library waits in the template, the map's setup in a text/plain script.
    tpl = re.search(r'<template id="rider-map-assets">(.*?)</template>', html, re.S).group(1)
    assert 'src="/vendor/leaflet/leaflet.js"' in tpl and 'src="/static/locator-map.js"' in tpl
    assert 'href="/vendor/leaflet/leaflet.css"' in tpl
    setup = re.search(r'<script type="text/plain" id="rider-map-script">(.*?)</script>',
                      html, re.S).group(1)
    assert 'LocatorMaps.register("rider"' in setup


def test_other_pages_still_link_their_styles(client, registry):
    sid = registry.index.stations()[0].id
    html = client.get(f"/stations/{sid}").get_data(as_text=True)
    assert 'href="/static/base.css"' in html


@pytest.mark.parametrize(("name", "text"), [
    ("bad.js", "var a = '</script><script>alert(1)</script>';"),
    ("bad2.js", "var a = '<!-- <script>';"),
    ("bad.css", "a { } </STYLE><script>alert(1)</script>"),
])
def test_a_file_that_could_end_its_element_is_refused(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="cannot be inlined"):
        _static_text(str(tmp_path), name)


def test_a_plain_file_is_inlined_as_is(tmp_path):
    (tmp_path / "ok.js").write_text("var a = 1 < 2;\n", encoding="utf-8")
    assert _static_text(str(tmp_path), "ok.js") == "var a = 1 < 2;\n"


@pytest.fixture()
def app_static():
    from pathlib import Path

    import locator.web

    return Path(locator.web.__file__).resolve().parent / "static"

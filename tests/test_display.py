"""The large-text mode (长辈版) through Flask's test client: the cookie, ``?large=``, the
class rendered on the server, the no-JS toggle route and its return address (same site
only), and bad values answered 400 in the page's language."""

from __future__ import annotations

import re
from html import unescape

import pytest

from locator.web import create_app


@pytest.fixture()
def app(registry):
    return create_app({"LOCATOR_REGISTRY": registry, "LOCATOR_RATE_LIMIT": 0,
                       "LOCATOR_REFRESH_SECONDS": 0})


@pytest.fixture()
def client(app):
    return app.test_client()


def _set_cookie(resp, name="large"):
    """The ``Set-Cookie`` header for ``name``, or None."""
    for h in resp.headers.getlist("Set-Cookie"):
        if h.startswith(f"{name}="):
            return h
    return None


def _is_large(html: str) -> bool:
    """The server rendered the page large: both <html> and <body> carry the class, the
    stylesheet is linked and the toggle is pressed."""
    html_tag = re.search(r"<html[^>]*>", html)[0]
    body_tag = re.search(r"<body[^>]*>", html)[0]
    pressed = re.search(r'id="large-toggle" aria-pressed="(true|false)"', html)[1]
    on = "large-text" in html_tag
    assert on == ("large-text" in body_tag)
    assert on == ('id="large-css"' in html)
    assert on == (pressed == "true")
    return on


PAGES = ["/", "/map", "/stations/T01", "/stations/T01/report", "/s", "/planner",
         "/staff/login"]


@pytest.mark.parametrize("path", PAGES, ids=["rider", "map", "station", "report",
                                             "code-entry", "planner", "staff-login"])
def test_every_page_has_the_toggle_and_follows_the_cookie(client, path):
    r = client.get(path)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert not _is_large(html)
    assert 'action="/display/large"' in html and "长辈版" in html
    # always, to switch in place: linked, or inside the page on the rider page
    assert "/static/large.js" in html or 'getElementById("large-css")' in html
    client.set_cookie("large", "1")
    assert _is_large(client.get(path).get_data(as_text=True))
    client.set_cookie("large", "0")
    assert not _is_large(client.get(path).get_data(as_text=True))


def test_the_toggle_speaks_english_on_english_pages(client):
    html = client.get("/map?lang=en").get_data(as_text=True)
    assert ">Large text</span></button>" in html and "长辈版" not in html


def test_query_turns_it_on_and_the_cookie_keeps_it(client):
    r = client.get("/map?large=1")
    assert _is_large(r.get_data(as_text=True))
    cookie = _set_cookie(r)
    assert cookie.startswith("large=1;")
    assert "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "HttpOnly" not in cookie  # large.js reads and writes it
    # the next pages, without the query
    for path in ("/", "/stations/T01"):
        assert _is_large(client.get(path).get_data(as_text=True)), path
    # no second Set-Cookie once the cookie agrees
    assert _set_cookie(client.get("/map?large=1")) is None
    r = client.get("/?large=0")
    assert not _is_large(r.get_data(as_text=True))
    assert _set_cookie(r).startswith("large=0;")
    assert not _is_large(client.get("/map").get_data(as_text=True))


@pytest.mark.parametrize("value,on", [("1", True), ("true", True), ("ON", True),
                                      ("yes", True), ("0", False), ("false", False),
                                      ("off", False), ("no", False)])
def test_query_values(client, value, on):
    assert _is_large(client.get(f"/map?large={value}").get_data(as_text=True)) is on


def test_the_query_wins_over_the_cookie(client):
    client.set_cookie("large", "1")
    assert not _is_large(client.get("/?large=0").get_data(as_text=True))
    client.set_cookie("large", "0")
    assert _is_large(client.get("/?large=1").get_data(as_text=True))


def test_a_poster_link_keeps_the_choice_through_its_redirect(client, registry):
    code = registry.store.get("T02").code
    r = client.get(f"/s/{code}?large=1")
    assert r.status_code == 302 and r.headers["Location"].startswith("/stations/T02?via=qr")
    assert _set_cookie(r).startswith("large=1;")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert _is_large(html)


@pytest.mark.parametrize("lang,words", [("", "参数 large 只能是 1（开启长辈版）或 0（关闭）"),
                                        ("&lang=en", "large must be 1 (large text on) or 0 (off)")],
                         ids=["zh", "en"])
def test_a_bad_query_value_is_a_400_in_the_pages_language(client, lang, words):
    r = client.get(f"/map?large=2{lang}")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert words in html
    assert _set_cookie(r) is None
    assert not _is_large(html)  # the error page itself renders (no 500)


def test_the_page_renders_with_a_bad_cookie(client):
    client.set_cookie("large", "<script>")
    r = client.get("/")
    assert r.status_code == 200 and not _is_large(r.get_data(as_text=True))


def test_the_api_does_not_take_the_cookie_or_the_query(client):
    client.set_cookie("large", "0")
    r = client.get("/api/v1/meta")
    assert r.status_code == 200 and _set_cookie(r) is None
    r = client.get("/api/v1/meta?large=1")  # the API's own answer to a parameter it lacks
    assert r.mimetype == "application/problem+json" and _set_cookie(r) is None


# --------------------------------------------------------------------------- the toggle


def test_the_toggles_return_address_is_this_page_without_large(client):
    html = client.get("/stations/T01?mode=bike&large=1&lang=en").get_data(as_text=True)
    form = re.search(r'<form class="large-toggle-form".*?</form>', html, re.S)[0]
    assert 'name="next" value="/stations/T01?mode=bike&amp;lang=en"' in form
    assert 'name="large" value="0"' in form  # pressed: the form turns it off


def test_toggle_sets_the_cookie_and_redirects_back(client):
    r = client.post("/display/large", data={"large": "1", "next": "/map?lang=en#top"})
    assert r.status_code == 303
    assert r.headers["Location"] == "/map?lang=en#top"
    assert r.headers["Cache-Control"] == "no-store"
    assert _set_cookie(r).startswith("large=1;")
    assert _is_large(client.get("/map").get_data(as_text=True))
    r = client.post("/display/large", data={"large": "0", "next": "/map"})
    assert r.status_code == 303 and _set_cookie(r).startswith("large=0;")
    assert not _is_large(client.get("/map").get_data(as_text=True))


def test_toggle_without_a_value_flips_and_without_next_goes_home(client):
    r = client.post("/display/large")
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert _set_cookie(r).startswith("large=1;")
    r = client.post("/display/large")
    assert _set_cookie(r).startswith("large=0;")


def test_toggle_drops_large_from_the_return_address(client):
    """Otherwise a page opened with ?large=1 could not be switched off without JS."""
    r = client.post("/display/large", data={"large": "0", "next": "/?large=1&lang=en"})
    assert r.headers["Location"] == "/?lang=en"
    assert _set_cookie(r).startswith("large=0;")


@pytest.mark.parametrize("target", [
    "https://evil.example/", "http:/evil.example", "//evil.example/x", "///evil.example",
    "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "/\r\nSet-Cookie: a=b",
    "javascript:alert(1)", "evil.example/x", " //evil.example", "map", "/" + "a" * 2001,
], ids=["https", "scheme-no-slashes", "protocol-relative", "three-slashes", "backslash",
        "two-backslashes", "tab", "crlf", "javascript", "bare-host", "leading-space",
        "relative", "too-long"])
def test_toggle_refuses_other_sites_as_return_address(client, target):
    r = client.post("/display/large", data={"large": "1", "next": target})
    assert r.status_code == 400
    assert "Location" not in r.headers and _set_cookie(r) is None
    assert "返回地址 next 必须是本站的路径" in r.get_data(as_text=True)


def test_toggle_errors_in_english_and_for_bad_values(client):
    client.set_cookie("lang", "en")
    r = client.post("/display/large", data={"next": "https://evil.example/"})
    assert r.status_code == 400
    assert "next must be a path on this site" in r.get_data(as_text=True)
    r = client.post("/display/large", data={"large": "maybe", "next": "/"})
    assert r.status_code == 400
    assert "large must be 1 (large text on) or 0 (off); got 'maybe'" in \
        unescape(r.get_data(as_text=True))


def test_toggle_is_post_only(client):
    assert client.get("/display/large").status_code == 405

"""WeChat's in-app browser: how the server recognises it, which navigation links it gets,
and the JSSDK set-up of its pages.

Inside WeChat (``MicroMessenger`` in the User-Agent; its mini-programs' ``<web-view>``
adds ``miniProgram``, from WeChat 7.0.0) links that try to open another app are blocked,
so every navigation link there is the vendor's https page (:func:`nav_links` with
``h5=True``, see :mod:`locator.stations.navigation`). The API chooses by the request's
User-Agent, which the pages' own ``fetch`` carries, unless the caller says ``nav=app`` or
``nav=h5``; such answers vary by User-Agent and say so (``Vary``).

When the deployment sets ``LOCATOR_WECHAT_APPID`` and ``LOCATOR_WECHAT_SIGNATURE_URL``,
pages opened inside WeChat also get the JSSDK (``static/wechat.js`` loads it from
``LOCATOR_WECHAT_JSSDK_URL``, asks the signature endpoint to sign the page URL and calls
``wx.openLocation`` when 导航 is tapped), and their Content-Security-Policy allows the
JSSDK's origin, and the signature endpoint's when it is on another host; nowhere else.
The app never holds the app secret: the signature comes from the deployment's server.

``LOCATOR_WECHAT_VERIFY_FILES`` names the verification files WeChat issues for a domain;
they are served at the site root.

The browser's twin of :func:`is_wechat` is ``LocatorWeChat.isWeChat()`` in
``static/wechat.js``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g, has_request_context, request

__all__ = ["NAV_CHOICES", "JssdkSetup", "init_wechat", "is_miniprogram", "is_wechat",
           "jssdk_setup", "nav_h5", "request_nav_h5", "verify_files"]

#: Values of the API's ``nav`` parameter: ``auto`` (by User-Agent), ``app`` or ``h5``.
NAV_CHOICES = ("auto", "app", "h5")

_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def is_wechat(user_agent: str | None) -> bool:
    """Whether a User-Agent is WeChat's browser (its mini-programs' web-view included).

    WeChat's token is ``MicroMessenger``; WeCom (企业微信) sends it too, and blocks app
    links alike. Compared without case, as the browser side does."""
    return user_agent is not None and "micromessenger" in user_agent.lower()


def is_miniprogram(user_agent: str | None) -> bool:
    """Whether a User-Agent is a WeChat mini-program's ``<web-view>`` (WeChat 7.0.0 and
    later add ``miniProgram``; older ones are recognised only in the browser, by
    ``window.__wxjs_environment``)."""
    return user_agent is not None and is_wechat(user_agent) \
        and "miniprogram" in user_agent.lower()


def nav_h5(nav: str | None, user_agent: str | None) -> bool:
    """Whether navigation links should be the vendors' H5 pages only: ``nav`` is the
    API's parameter (``auto``, the default, decides by ``user_agent``)."""
    if nav == "h5":
        return True
    if nav == "app":
        return False
    return is_wechat(user_agent)


def request_nav_h5(nav: str | None = None) -> bool:
    """:func:`nav_h5` for the current Flask request."""
    return nav_h5(nav, request.headers.get("User-Agent"))


@dataclass(frozen=True)
class JssdkSetup:
    """What a page opened inside WeChat needs to configure the JSSDK."""

    appid: str
    script_url: str
    signature_url: str
    #: Origins the page's CSP must allow beyond its own: the JSSDK's (script-src) and
    #: the signature endpoint's (connect-src); None when it is the page's own.
    script_origin: str | None
    signature_origin: str | None


def _origin(url: str, setting: str, *, relative_ok: bool) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL (None for a path on this
    host, where ``relative_ok``); ValueError naming the setting otherwise."""
    parts = urlsplit(url)
    if not parts.scheme and not parts.netloc and relative_ok and url.startswith("/") \
            and not url.startswith("//"):
        return None
    if parts.scheme not in ("https", "http") or not _HOST.match(parts.netloc or ""):
        need = "an absolute https URL" + (" or a path on this host" if relative_ok else "")
        raise ValueError(f"{setting}={url!r} is not a valid setting (must be {need}, "
                         f"e.g. https://res.wx.qq.com/open/js/jweixin-1.6.0.js)")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _setup_from(config: Any) -> JssdkSetup | None:
    appid = str(config.get("LOCATOR_WECHAT_APPID") or "").strip()
    if not appid:
        return None
    sign = str(config.get("LOCATOR_WECHAT_SIGNATURE_URL") or "").strip()
    if not sign:
        raise ValueError("LOCATOR_WECHAT_APPID is set but LOCATOR_WECHAT_SIGNATURE_URL is "
                         "not: the JSSDK needs the deployment's endpoint that signs a page "
                         "URL (see the README, 'Inside WeChat')")
    if not re.fullmatch(r"wx[0-9a-zA-Z]{16}", appid):
        raise ValueError(f"LOCATOR_WECHAT_APPID={appid!r} is not a valid setting (a WeChat "
                         "app id: 'wx' and 16 letters or digits, e.g. wx1234567890abcdef)")
    script = str(config.get("LOCATOR_WECHAT_JSSDK_URL") or "").strip()
    return JssdkSetup(
        appid=appid, script_url=script, signature_url=sign,
        script_origin=_origin(script, "LOCATOR_WECHAT_JSSDK_URL", relative_ok=True),
        signature_origin=_origin(sign, "LOCATOR_WECHAT_SIGNATURE_URL", relative_ok=True))


def jssdk_setup() -> JssdkSetup | None:
    """The JSSDK set-up for the current request: only inside WeChat, and only when the
    deployment configured it (None otherwise)."""
    setup = current_app.extensions.get("locator.wechat")
    if setup is None or not is_wechat(request.headers.get("User-Agent")):
        return None
    return setup


def _template_context() -> dict[str, Any]:
    if not has_request_context():
        return {"wechat": None}
    if "locator_wechat" not in g:
        ua = request.headers.get("User-Agent")
        g.locator_wechat = {"in_wechat": is_wechat(ua), "miniprogram": is_miniprogram(ua),
                            "h5": request_nav_h5(), "jssdk": jssdk_setup()}
    return {"wechat": g.locator_wechat}


_VERIFY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.txt")
_VERIFY_TEXT = re.compile(r"[\x21-\x7e]{1,256}")


def verify_files(value: str) -> dict[str, str]:
    """WeChat's domain-verification files (``LOCATOR_WECHAT_VERIFY_FILES``): ``name=content``
    pairs separated by ``;``, e.g. ``MP_verify_AbC123.txt=AbC123``. WeChat checks that the
    file it issued is at the domain's root before it accepts the domain as a
    mini-program's business domain (业务域名) or an official account's JS interface domain
    (JS接口安全域名). ValueError naming the setting for anything else."""
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in str(value or "").split(";"))):
        name, sep, text = (x.strip() for x in pair.partition("="))
        if not sep or not _VERIFY_NAME.fullmatch(name) or not _VERIFY_TEXT.fullmatch(text):
            raise ValueError(f"LOCATOR_WECHAT_VERIFY_FILES: {pair!r} is not name=content (a "
                             "file name such as MP_verify_AbC123.txt, then the text WeChat "
                             "gave, without spaces; pairs separated by ';')")
        out[name] = text
    return out


def _verify_view(text: str):
    def view():
        return current_app.response_class(text, mimetype="text/plain",
                                          headers={"Cache-Control": "no-cache"})

    return view


def init_wechat(app: Flask) -> None:
    """Check the WeChat settings (a ValueError names a bad one), serve the configured
    verification files at the site root, and give templates ``wechat``: ``in_wechat``,
    ``miniprogram``, ``h5`` (links for WeChat) and ``jssdk`` (a :class:`JssdkSetup` or
    None), for ``templates/partials/wechat.html``."""
    app.extensions["locator.wechat"] = _setup_from(app.config)
    files = verify_files(app.config.get("LOCATOR_WECHAT_VERIFY_FILES") or "")
    for i, (name, text) in enumerate(sorted(files.items())):
        app.add_url_rule(f"/{name}", endpoint=f"wechat_verify_{i}", view_func=_verify_view(text))
    app.context_processor(_template_context)

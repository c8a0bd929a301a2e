"""Two languages: Simplified Chinese first, English on request (``?lang=en`` or the cookie
set by the page's language switch)."""

from __future__ import annotations

from flask import Flask, Response, g, request

LANGS = ("zh", "en")


def current_lang() -> str:
    lang = getattr(g, "lang", None)
    if lang:
        return lang
    q = (request.args.get("lang") or request.cookies.get("lang") or "").lower()
    if q.startswith("en"):
        lang = "en"
    elif q.startswith("zh"):
        lang = "zh"
    else:
        lang = "zh"  # Chinese first, whatever the browser prefers; English on request
    g.lang = lang
    return lang


def gettext(zh: str, en: str) -> str:
    return en if current_lang() == "en" else zh


def init_i18n(app: Flask) -> None:
    @app.after_request
    def _remember_lang(resp: Response) -> Response:
        """On every page, a ``?lang=`` link sets the language for later pages too (rider,
        planner and staff pages alike; the API answers per request)."""
        if request.path.startswith("/api/"):
            return resp
        lang = (request.args.get("lang") or "").lower()[:2]
        if lang in ("zh", "en") and request.cookies.get("lang") != lang:
            resp.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="Lax",
                            httponly=True)
        return resp

    @app.context_processor
    def _inject():
        lang = current_lang()
        return {"_": gettext, "lang": "en" if lang == "en" else "zh-CN", "lang_code": lang}

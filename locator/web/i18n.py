"""Two languages: Simplified Chinese first, English on request (``?lang=en`` or the cookie
set by the page's language switch)."""

from __future__ import annotations

from flask import Flask, g, request

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
    @app.context_processor
    def _inject():
        lang = current_lang()
        return {"_": gettext, "lang": "en" if lang == "en" else "zh-CN", "lang_code": lang}

"""A WSGI fast path for the API's busiest call.

``GET /api/v1/nearest`` is what every rider's phone asks, many times a minute. This
middleware answers the *successful, plain* case (JSON format, no CORS preflight or
Origin header) without building Flask's request context, request and response objects,
running the same parsing, the same core query and the same serialisation as the Flask
view. Everything else — every error (which Flask turns into problem+json), GeoJSON,
cross-origin requests, other paths — is passed to the Flask app unchanged, so behaviour
is identical; only the overhead differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict

from ...errors import LocatorError
from ..security import API_CACHE, API_CSP

_PATH = "/api/v1/nearest"


class NearestFastPath:
    def __init__(self, flask_app, wsgi_app: Callable):
        self.flask_app = flask_app
        self.wsgi_app = wsgi_app
        self.max_query = flask_app.config["LOCATOR_MAX_QUERY_LENGTH"]
        self.holder = flask_app.extensions["locator"]
        self.limiter = flask_app.extensions.get("locator.rate_limiter")

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") == _PATH and environ.get("REQUEST_METHOD") == "GET"
                and "HTTP_ORIGIN" not in environ):
            body = self._answer(environ)
            if body is not None:
                start_response("200 OK", [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Content-Security-Policy", API_CSP),
                    ("Cache-Control", API_CACHE),
                ])
                return [body]
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ: dict[str, Any]) -> bytes | None:
        qs = environ.get("QUERY_STRING", "")
        if len(qs) > self.max_query:
            return None
        if self.limiter is not None:
            ok, retry = self.limiter.allow(environ.get("REMOTE_ADDR") or "-")
            environ["locator.rate_checked"] = (ok, retry)  # Flask must not count it again
            if not ok:
                return None
        from .routes import nearest_json_body, nearest_query

        try:
            args = MultiDict(parse_qsl(qs.encode("latin-1").decode("utf-8"),
                                       keep_blank_values=True))
            query, res, mode = nearest_query(args, self.holder.get())
            if query["format"] != "json":
                return None
            return nearest_json_body(query, res, mode)
        except (LocatorError, UnicodeError, ValueError):
            return None  # Flask answers with the right problem+json

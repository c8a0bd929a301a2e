"""WSGI fast paths for the API's busiest calls.

``GET /api/v1/nearest`` is what every rider's phone asks, many times a minute, and
``POST /api/v1/reports`` is what riders send in bursts when a station is found locked,
alongside those queries. These middlewares answer the *successful, plain* case (JSON, no
CORS preflight or Origin header) without building Flask's request context, request and
response objects, running the same parsing, the same core call and the same serialisation
as the Flask views. Everything else — every error (which Flask turns into problem+json),
GeoJSON, forms, cross-origin requests, other paths — is passed to the Flask app unchanged,
so behaviour is identical; only the overhead differs.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict

from ...errors import LocatorError
from ..security import API_CACHE, API_CSP

_PATH = "/api/v1/nearest"
_REPORTS = "/api/v1/reports"
#: A report body larger than this goes to Flask (which applies the app's own body limit).
_MAX_REPORT_BODY = 8192


class NearestFastPath:
    def __init__(self, flask_app, wsgi_app: Callable):
        self.flask_app = flask_app
        self.wsgi_app = wsgi_app
        self.max_query = flask_app.config["LOCATOR_MAX_QUERY_LENGTH"]
        self.holder = flask_app.extensions["locator"]
        self.limiter = flask_app.extensions.get("locator.rate_limiter")
        self.max_m = float(flask_app.config["LOCATOR_NEARBY_HORIZON_M"])
        self._args: dict[tuple[str, ...], dict[str, Any]] = {}
        self._routes: Any = None
        self._followed_at = -_FOLLOW_CHECK_S  # monotonic time of the last holder.get()

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
                    ("Vary", "User-Agent"),  # WeChat gets H5 links (locator/web/wechat.py)
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
        routes = self._routes
        if routes is None:
            from . import routes as routes_module

            routes = self._routes = routes_module
        try:
            split = _split_point(qs)
            a = None
            if split is not None:
                cached = self._args.get(split[2])
                if cached is not None:
                    a = {**cached, "lon": split[0], "lat": split[1]}
            if a is None:
                args = MultiDict(parse_qsl(qs.encode("latin-1").decode("utf-8"),
                                           keep_blank_values=True))
                a = routes.nearest_args(args)
                if split is not None:
                    if len(self._args) >= _MAX_CACHED_ARGS:  # keys are client-sent
                        self._args.clear()
                    self._args[split[2]] = {k: v for k, v in a.items()
                                            if k not in ("lon", "lat")}
            if a["format"] != "json":
                return None
            query, res, mode = routes.nearest_query(None, self._registry(), max_m=self.max_m,
                                                    parsed=a,
                                                    user_agent=environ.get("HTTP_USER_AGENT"))
            return routes.nearest_json_body(query, res, mode)
        except (LocatorError, UnicodeError, ValueError):
            return None  # Flask answers with the right problem+json


    def _registry(self) -> Any:
        """The registry; at most once a second, :meth:`RegistryHolder.get`'s check that
        this process follows the change log (a forked worker starts its follower thread
        on its first request; the check costs a system call, a query a few microseconds).
        """
        t = time.monotonic()
        if t - self._followed_at >= _FOLLOW_CHECK_S:
            self._followed_at = t
            return self.holder.get()
        return self.holder.registry


#: How often the fast path makes sure the worker follows the change log (seconds).
_FOLLOW_CHECK_S = 1.0
#: Parsed parameter sets kept (by everything in the query but the point).
_MAX_CACHED_ARGS = 256
#: A plain decimal number: what a phone's query string carries for lon and lat (nothing
#: that URL-decoding would change).
_PLAIN_NUMBER = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{1,15})?")


def _split_point(qs: str) -> tuple[str, str, tuple[str, ...]] | None:
    """``(lon, lat, the other parts)`` of a query string whose ``lon`` and ``lat`` are
    each given once, as plain decimal numbers; None for anything else.

    Every other parameter is parsed the same way whatever the point, so what
    :func:`~.routes.nearest_args` makes of them is cached under the other parts, as sent
    (raw, in order): a rider's phone repeats ``k=10&mode=ebike&open_now=true`` with a new
    point each time.
    """
    lon = lat = None
    rest = []
    for part in qs.split("&"):
        head = part[:4]
        if head == "lon=":
            if lon is not None:
                return None
            lon = part[4:]
        elif head == "lat=":
            if lat is not None:
                return None
            lat = part[4:]
        elif part:
            rest.append(part)
    if lon is None or lat is None or not _PLAIN_NUMBER.fullmatch(lon) \
            or not _PLAIN_NUMBER.fullmatch(lat):
        return None
    return lon, lat, tuple(rest)


class ReportFastPath:
    """``POST /api/v1/reports`` with a JSON body: the report is stored by the same
    :class:`~locator.upkeep.reports.ReportService` call as the Flask view makes, and
    answered with the same JSON and headers. Any error raised before the report is
    stored (bad input, unknown station, rate limit, a database outage) hands the request,
    its body restored, to the Flask view, which answers it with the right problem+json
    (the intake is one transaction, so nothing was written)."""

    def __init__(self, flask_app, wsgi_app: Callable):
        self.flask_app = flask_app
        self.wsgi_app = wsgi_app
        self.limiter = flask_app.extensions.get("locator.rate_limiter")
        self.holder = flask_app.extensions["locator"]
        self._link_cache: dict[tuple, tuple[str, str]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") == _REPORTS and environ.get("REQUEST_METHOD") == "POST"
                and "HTTP_ORIGIN" not in environ
                and environ.get("CONTENT_TYPE", "").startswith("application/json")):
            answer = self._answer(environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ: dict[str, Any]) -> tuple[str, list, bytes] | None:
        svc = self.flask_app.extensions.get("locator.reports")
        try:
            size = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return None
        if svc is None or not 0 < size <= _MAX_REPORT_BODY:
            return None  # the first report builds the service, through Flask
        qs = environ.get("QUERY_STRING", "")
        query = dict(parse_qsl(qs)) if qs else {}
        if set(query) - {"lang"}:
            return None
        if self.limiter is not None:
            ok, retry = self.limiter.allow(environ.get("REMOTE_ADDR") or "-")
            environ["locator.rate_checked"] = (ok, retry)  # Flask must not count it again
            if not ok:
                return None
        from ...upkeep.reports import report_fields
        from .reports import lang_of

        self.holder.get()  # this worker follows the change log

        raw = environ["wsgi.input"].read(size)
        # Whatever happens next, Flask can still read the body.
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            data = self.flask_app.json.loads(raw)
            if not isinstance(data, dict):
                return None
            lang = lang_of(data["lang"] if "lang" in data else query.get("lang"))
            fields = report_fields(data)
            fields["lang"] = lang
            sid = fields.pop("station_id", None)
            kind = fields.pop("kind", None)
            rep, created = svc.submit(sid, kind, client=environ.get("REMOTE_ADDR") or "unknown",
                                      **fields)
        except Exception:  # noqa: BLE001 - Flask answers every error (nothing was stored)
            return None
        status_url, location = self._links(environ, lang)
        obj = {**rep.public_dict(lang), "station_name": _station_name(svc, rep.station_id),
               "status_url": status_url.replace(_REF, rep.ref), "created": created}
        body = self.flask_app.json.dumps(obj).encode()
        return ("201 CREATED" if created else "200 OK", [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Location", location.replace(_REF, rep.ref)),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", API_CSP),
        ], body)


    def _links(self, environ: dict[str, Any], lang: str) -> tuple[str, str]:
        """The status page's URL and the report's API path, as ``url_for`` builds them
        for this request's scheme, host and root, with :data:`_REF` for the reference
        (built once per host: building them costs more than storing a report)."""
        key = (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"),
               environ.get("SERVER_NAME"), environ.get("SERVER_PORT"),
               environ.get("SCRIPT_NAME"), lang)
        links = self._link_cache.get(key)
        if links is None:
            urls = self.flask_app.create_url_adapter(self.flask_app.request_class(environ))
            links = (urls.build("report_pages.report_status", {"ref": _REF, "lang": lang},
                                force_external=True),
                     urls.build("api_reports.get_report", {"ref": _REF}))
            if len(self._link_cache) >= 64:  # hosts are client-sent: keep the cache small
                self._link_cache.clear()
            self._link_cache[key] = links
        return links


#: Stands for a report's reference in cached links (references are R + base 32, so this
#: cannot occur in one, nor be changed by URL quoting).
_REF = "R_REF_"


def _station_name(svc: Any, sid: str) -> str | None:
    from ...errors import NotFound

    try:
        return svc.registry.index.get(sid).name
    except NotFound:
        return None

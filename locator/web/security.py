"""Security and caching headers, CORS, query-length and rate limits."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from .wechat import JssdkSetup, init_wechat, jssdk_setup

if TYPE_CHECKING:
    from .shared_limits import SharedRateLimiter

_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'{scripts}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
        "connect-src 'self'{connect}; font-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'self'")
#: The pages' policy: nothing loads from another host (map tiles are images).
CSP = _CSP.format(scripts="", connect="")

#: API paths whose navigation links depend on the User-Agent (WeChat gets H5 links,
#: see locator/web/wechat.py), so that a shared cache keeps one answer per browser.
_UA_VARIANT_PATHS = ("/api/v1/nearest", "/api/v1/stations/")


def wechat_csp(setup: JssdkSetup | None) -> str:
    """The pages' policy for a page opened inside WeChat with the JSSDK configured: it
    may also run the JSSDK from its origin and ask the signature endpoint on its host
    (:class:`locator.web.wechat.JssdkSetup`); exactly :data:`CSP` otherwise."""
    if setup is None:
        return CSP
    return _CSP.format(
        scripts=f" {setup.script_origin}" if setup.script_origin else "",
        connect=f" {setup.signature_origin}" if setup.signature_origin else "")


#: For JSON: nothing may load from it, and no page may frame it.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
#: Cache-Control of a successful API GET (answers change as stations open and close).
API_CACHE = "public, max-age=30"


class TooManyRequests(HTTPException):
    code = 429
    description = "too many requests; slow down and retry after the given seconds"

    def __init__(self, retry_after: int):
        super().__init__()
        self.retry_after = retry_after


class QueryTooLong(HTTPException):
    code = 400
    description = "the query string is too long"


class RateLimiter:
    """A token bucket per client address: ``per_minute`` requests, bursts up to that many,
    counted by this process alone (:class:`locator.web.shared_limits.SharedRateLimiter`
    counts for every worker and host)."""

    def __init__(self, per_minute: int):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, int]:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False, max(1, int((1.0 - tokens) / self.rate + 0.999))
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle clients
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}
            return True, 0


def init_security(app: Flask) -> None:
    """Headers, CORS and limits for ``app``. The API rate limiter goes into
    ``app.extensions["locator.rate_limiter"]`` (the fast paths use it too): shared through
    Redis when ``LOCATOR_REDIS_URL`` is set (:mod:`locator.web.shared_limits`; the link to
    Redis goes into ``app.extensions["locator.redis"]`` for ``/healthz``, None without
    one), else this process's own :class:`RateLimiter`."""
    limit = app.config["LOCATOR_RATE_LIMIT"]
    url = app.config.get("LOCATOR_REDIS_URL")
    link = None
    if url:
        from .shared_limits import DEFAULT_PREFIX, RedisLink, SharedRateLimiter

        link = RedisLink(url, prefix=app.config.get("LOCATOR_REDIS_PREFIX") or DEFAULT_PREFIX)
    app.extensions["locator.redis"] = link
    limiter: RateLimiter | SharedRateLimiter | None = None
    if limit > 0:
        limiter = RateLimiter(limit) if link is None else SharedRateLimiter(link, limit)
    app.extensions["locator.rate_limiter"] = limiter
    origins = [o.strip() for o in str(app.config["LOCATOR_CORS_ORIGINS"]).split(",") if o.strip()]
    max_query = app.config["LOCATOR_MAX_QUERY_LENGTH"]
    init_wechat(app)
    jssdk_csp = wechat_csp(app.extensions["locator.wechat"])

    @app.before_request
    def _limits():
        if len(request.query_string) > max_query:
            raise QueryTooLong(f"the query string is {len(request.query_string)} bytes long; "
                               f"at most {max_query} allowed")
        if limiter is not None and request.path.startswith("/api/"):
            # the fast path (fastpath.py) may have counted this request already
            checked = request.environ.get("locator.rate_checked")
            ok, retry = checked if checked else limiter.allow(request.remote_addr or "-")
            if not ok:
                raise TooManyRequests(retry)
        if request.method == "OPTIONS" and origins and request.path.startswith("/api/"):
            resp = current_app.make_default_options_response()
            return resp

    @app.after_request
    def _headers(resp: Response) -> Response:
        h = resp.headers
        if request.path.startswith("/api/"):
            # JSON is never rendered as a document: a short, strict CSP suffices, and every
            # header costs time on the hot path (gunicorn validates each one).
            h["X-Content-Type-Options"] = "nosniff"
            if "Content-Security-Policy" not in h:
                h["Content-Security-Policy"] = API_CSP
            if "Cache-Control" not in h:
                h["Cache-Control"] = (API_CACHE if resp.status_code == 200
                                      and request.method == "GET" else "no-store")
            origin = request.headers.get("Origin")
            if origin and origins and ("*" in origins or origin in origins):
                h["Access-Control-Allow-Origin"] = "*" if "*" in origins else origin
                if "*" not in origins:
                    resp.vary.add("Origin")
                h["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                h["Access-Control-Allow-Headers"] = "Content-Type"
                h["Access-Control-Max-Age"] = "600"
            if request.path.startswith(_UA_VARIANT_PATHS) and request.method == "GET":
                resp.vary.add("User-Agent")
            return resp
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("Content-Security-Policy",
                     jssdk_csp if jssdk_setup() is not None else CSP)
        h.setdefault("X-Frame-Options", "SAMEORIGIN")
        if request.path.startswith("/static/") or request.path.startswith("/vendor/"):
            h.setdefault("Cache-Control", "public, max-age=86400")
        else:
            h.setdefault("Cache-Control", "no-cache")
        return resp

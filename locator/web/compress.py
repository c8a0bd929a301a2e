"""gzip for every text response, so that a rider on a weak signal downloads a fraction of
the bytes (the map library, the pages, the API's JSON).

A WSGI middleware, outermost: a response is compressed when the client accepts gzip, it
is text (HTML, CSS, JavaScript, JSON, GeoJSON, SVG, CSV ...), at least ``min_size``
bytes, not already encoded, not partial (206) or empty (204/304), and not marked
``no-transform``. Static files (``/static/``, ``/vendor/``) are compressed once, at the
highest level, and kept in memory keyed by their ETag; other responses are compressed on
the fly at a fast level. The compressed representation has its own ETag (the file's with
``-gz``), and a conditional request carrying it is matched against the file's own ETag,
so that 304s keep working.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterable
from typing import Any

#: Content types worth compressing (images and fonts other than SVG are compressed
#: already).
_TEXT = ("text/", "application/json", "application/javascript", "application/geo+json",
         "application/problem+json", "application/manifest+json", "image/svg+xml",
         "application/xml", "application/x-javascript")
_STATIC = ("/static/", "/vendor/")
#: Bodies larger than this are passed through (exports can be large: do not hold them
#: in memory twice).
_MAX_BODY = 8 * 1024 * 1024
_SUFFIX = '-gz"'


class Compress:
    def __init__(self, app: Callable, *, min_size: int = 1024, level: int = 5):
        self.app = app
        self.min_size = min_size
        self.level = level
        self._cache: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if "gzip" not in environ.get("HTTP_ACCEPT_ENCODING", "").lower() \
                or environ.get("REQUEST_METHOD") == "HEAD" or "HTTP_RANGE" in environ:
            return self.app(environ, start_response)
        inm = environ.get("HTTP_IF_NONE_MATCH")
        if inm and _SUFFIX in inm:  # our compressed ETag: compare the file's own
            environ["HTTP_IF_NONE_MATCH"] = inm.replace(_SUFFIX, '"')
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            captured["status"], captured["headers"] = status, headers
            captured["exc_info"] = exc_info
            return _no_write

        body = self.app(environ, capture)
        status, headers = captured["status"], captured["headers"]
        if not self._wanted(status, headers):
            start_response(status, headers, captured["exc_info"])
            return body
        try:
            data = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        if len(data) < self.min_size:
            start_response(status, headers, captured["exc_info"])
            return [data]
        etag = _header(headers, "ETag")
        path = environ.get("PATH_INFO", "")
        if etag and path.startswith(_STATIC):
            key = (path, etag)
            packed = self._cache.get(key)
            if packed is None:
                packed = gzip.compress(data, compresslevel=9, mtime=0)
                with self._lock:
                    if len(self._cache) > 512:  # assets change only with a release
                        self._cache.clear()
                    self._cache[key] = packed
        else:
            packed = gzip.compress(data, compresslevel=self.level, mtime=0)
        out = [(k, v) for k, v in headers
               if k.lower() not in ("content-length", "etag", "vary")]
        vary = _header(headers, "Vary")
        out += [("Content-Encoding", "gzip"), ("Content-Length", str(len(packed))),
                ("Vary", f"{vary}, Accept-Encoding" if vary else "Accept-Encoding")]
        if etag:
            out.append(("ETag", etag[:-1] + _SUFFIX if etag.endswith('"') else etag))
        start_response(status, out, captured["exc_info"])
        return [packed]

    def _wanted(self, status: str, headers: list[tuple[str, str]]) -> bool:
        if status[:3] in ("204", "206", "304") or _header(headers, "Content-Encoding"):
            return False
        ctype = (_header(headers, "Content-Type") or "").lower()
        if not ctype.startswith(_TEXT):
            return False
        if "no-transform" in (_header(headers, "Cache-Control") or "").lower():
            return False
        length = _header(headers, "Content-Length")
        return not (length and length.isdigit() and int(length) > _MAX_BODY)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    low = name.lower()
    return next((v for k, v in headers if k.lower() == low), None)


def _no_write(_data: bytes) -> None:  # pragma: no cover - no view uses write()
    raise RuntimeError("the compression middleware does not support write()")


__all__ = ["Compress"]

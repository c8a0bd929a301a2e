"""The app's upkeep services (riders' reports), created lazily, one per app.

The service is built on first use from the app's registry and settings and kept in
``current_app.extensions["locator.reports"]``; a lock makes sure that two threads
serving their first requests at the same time build only one.
"""

from __future__ import annotations

import threading

from flask import current_app, request

from ..upkeep.reports import ReportService

_LOCK = threading.Lock()


def get_reports() -> ReportService:
    """The app's :class:`~locator.upkeep.reports.ReportService`."""
    ext = current_app.extensions
    svc = ext.get("locator.reports")
    if svc is None:
        with _LOCK:
            svc = ext.get("locator.reports")
            if svc is None:
                from . import get_registry

                svc = ReportService(get_registry(),
                                    settings=current_app.config["LOCATOR_SETTINGS"])
                ext["locator.reports"] = svc
    return svc


def client_address() -> str:
    """The client's address, as the API rate limiter sees it (``request.remote_addr``;
    behind trusted proxies, ProxyFix has already put the forwarded address there)."""
    return request.remote_addr or "unknown"


__all__ = ["client_address", "get_reports"]

"""The app's upkeep services (riders' reports, check-ins, on-site checks), created
lazily, one per app.

Each service is built on first use from the app's registry and settings and kept in
``current_app.extensions`` (:func:`app_service`); a lock makes sure that two threads
serving their first requests at the same time build only one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

from ..upkeep.reports import ReportService

_LOCK = threading.Lock()
T = TypeVar("T")


def app_service(key: str, make: Callable[[], T]) -> T:
    """``current_app.extensions[key]``, made with ``make()`` on first use."""
    ext: dict[str, Any] = current_app.extensions
    svc = ext.get(key)
    if svc is None:
        with _LOCK:
            svc = ext.get(key)
            if svc is None:
                svc = ext[key] = make()
    return svc


def get_reports() -> ReportService:
    """The app's :class:`~locator.upkeep.reports.ReportService`."""
    from . import get_registry

    return app_service("locator.reports", lambda: ReportService(
        get_registry(), settings=current_app.config["LOCATOR_SETTINGS"]))


def client_address() -> str:
    """The client's address, as the API rate limiter sees it (``request.remote_addr``;
    behind trusted proxies, ProxyFix has already put the forwarded address there)."""
    return request.remote_addr or "unknown"


__all__ = ["app_service", "client_address", "get_reports"]

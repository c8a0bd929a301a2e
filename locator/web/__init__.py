"""The web app: ``create_app()`` builds a Flask app with one blueprint per audience.

Configuration comes from ``LOCATOR_*`` environment variables, overridden by the
``config`` mapping given to :func:`create_app`; :mod:`locator.settings` lists them all,
with their types and defaults (``locator settings`` prints the table). They are copied
into ``app.config`` under their environment names.

A planner job runs in the process that accepted it, and its record is kept in the
station database (table ``planner_jobs``), so any worker or server sharing that database
answers a poll.

Each worker keeps its own in-memory index and applies other processes' writes from the
store's change log in a background thread every ``LOCATOR_REFRESH_SECONDS`` (see
:class:`locator.store.registry.Registry`); requests never wait for that.

A prebuilt :class:`locator.Registry` may be passed as ``config["LOCATOR_REGISTRY"]``
(tests and benchmarks do).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from flask import Flask, g, request

from .._paths import templates_dir
from ..settings import Settings, load_settings
from ..store.registry import Registry
from .gc_tuning import GcKeeper, freeze_now, process_keeper
from .jsonfast import OrjsonProvider


def _load_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings (environment, then ``config``) as ``app.config`` entries, plus any
    extra entries of ``config`` (``LOCATOR_REGISTRY``, Flask's own keys)."""
    st = load_settings(config)
    out = dict(config or {})
    for f in fields(Settings):
        out[Settings.env_name(f.name)] = getattr(st, f.name)
    out["LOCATOR_SETTINGS"] = st
    return out


class RegistryHolder:
    """The app's registry. ``get`` makes sure this process follows the change log (a
    forked worker starts its own follower thread on its first request) and, with a
    ``gc_keeper``, runs its collection schedule (:mod:`.gc_tuning`)."""

    def __init__(self, registry: Registry, refresh_seconds: float,
                 gc_keeper: GcKeeper | None = None):
        self.registry = registry
        self.refresh_seconds = refresh_seconds
        self.gc_keeper = gc_keeper
        registry.follow(refresh_seconds)

    def get(self) -> Registry:
        if self.refresh_seconds > 0:
            self.registry.follow(self.refresh_seconds)
        if self.gc_keeper is not None:
            self.gc_keeper.ensure()
        return self.registry


class _LocatorFlask(Flask):
    json_provider_class = OrjsonProvider


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app (see the module docstring for configuration)."""
    cfg = _load_config(config)
    app = _LocatorFlask(__name__, template_folder=str(templates_dir()),
                static_folder="static", static_url_path="/static")
    app.config.update(cfg)
    app.config["MAX_CONTENT_LENGTH"] = cfg["LOCATOR_MAX_CONTENT_LENGTH"]
    app.config["JSON_SORT_KEYS"] = False

    registry = cfg.get("LOCATOR_REGISTRY") or Registry.open(cfg["LOCATOR_DB"])
    keeper = None
    if cfg["LOCATOR_GC_FREEZE"]:
        # The station records and the index are long-lived: move them out of the cyclic
        # garbage collector's sight, and keep what the worker learns later out of it too
        # (see gc_tuning: full collections would walk hundreds of thousands of objects).
        freeze_now()
        keeper = process_keeper()
    app.extensions["locator"] = RegistryHolder(registry, cfg["LOCATOR_REFRESH_SECONDS"],
                                               keeper)

    from . import assets, display
    from .api import routes as api
    from .errors import register_error_handlers
    from .i18n import init_i18n
    from .planner import api as planner_api
    from .planner import page as planner
    from .rider import pages
    from .security import init_security

    init_i18n(app)
    init_security(app)
    register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(display.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(planner.bp)
    app.register_blueprint(planner_api.bp)
    from .api import checkins as api_checkins
    from .rider import codes
    from .staff import posters, visits  # noqa: F401 - routes on staff_pages.bp

    app.register_blueprint(api_checkins.bp)
    app.register_blueprint(codes.bp)
    from .api import writes
    from .staff import (  # noqa: F401 - routes on staff_pages.bp
        admin,
        exports,
        imports,
        ratings,  # noqa: F401
        verify,  # noqa: F401
    )
    from .staff import pages as staff_pages
    from .staff import reports as staff_reports  # noqa: F401
    from .staff import stations as staff_stations  # noqa: F401
    from .staff.auth import init_auth

    init_auth(app)
    from .api import alerts as api_alerts
    from .staff import alerts as staff_alerts  # noqa: F401 - routes on staff_pages.bp

    app.register_blueprint(api_alerts.bp)
    app.register_blueprint(writes.bp)
    app.register_blueprint(staff_pages.bp)
    from .api import reports as api_reports
    from .rider import reports as rider_reports

    app.register_blueprint(api_reports.bp)
    app.register_blueprint(rider_reports.bp)
    from .rider import offline as rider_offline

    app.register_blueprint(rider_offline.bp)
    from .api import search as api_search

    app.register_blueprint(api_search.bp)
    from . import health

    app.register_blueprint(health.bp)
    if cfg["LOCATOR_PBF"]:
        factory = _network_factory(cfg["LOCATOR_PBF"])
        app.extensions["locator.network_engine"] = factory
        # Build (or load from the disk cache) the walking graph now, in the background, so
        # that the first planner run or reach request does not wait for it.
        threading.Thread(target=_warm_up, args=(factory,), name="locator-network-warm-up",
                         daemon=True).start()
    from .api.fastpath import NearestFastPath, ReportFastPath

    app.wsgi_app = ReportFastPath(app, NearestFastPath(app, app.wsgi_app))  # type: ignore[method-assign]
    if cfg["LOCATOR_TRUSTED_PROXIES"]:
        # Outside the app's own layers, so that every one (the fast paths' rate limiter
        # too) sees the client's address from X-Forwarded-For, as set by the trusted
        # proxies only.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = cfg["LOCATOR_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    from .compress import Compress

    app.wsgi_app = Compress(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _network_factory(pbf: str):
    """Road-network engines from one OpenStreetMap extract, built on first use per mode and
    speed (the graph itself is cached on disk by :mod:`locator.coverage.network`)."""
    engines: dict[tuple[str, float | None], Any] = {}
    lock = threading.Lock()

    def factory(mode: str, speed_kmh: float | None = None):
        key = (mode, speed_kmh)
        with lock:
            if key not in engines:
                from ..coverage.network import NetworkEngine

                engines[key] = NetworkEngine.from_pbf(pbf, mode, speed_kmh=speed_kmh)
            return engines[key]

    return factory


def _warm_up(factory: Any) -> None:
    import logging

    try:
        factory("walk")
    except Exception as e:  # noqa: BLE001 - the request that needs it reports the error
        logging.getLogger(__name__).warning("road network not loaded at start-up: %s", e)


def get_registry() -> Registry:
    from flask import current_app

    return current_app.extensions["locator"].get()


__all__ = ["create_app", "get_registry", "g", "request"]

"""The web app: ``create_app()`` builds a Flask app with one blueprint per audience.

Configuration comes from ``LOCATOR_*`` environment variables, overridden by the
``config`` mapping given to :func:`create_app`:

=========================  ===============================================  ==========
key                        meaning                                          default
=========================  ===============================================  ==========
LOCATOR_DB                 database path or SQLAlchemy URL                  ./station-locator.sqlite
LOCATOR_CORS_ORIGINS       comma-separated origins allowed by CORS, or *    (none)
LOCATOR_RATE_LIMIT         API requests per minute per client; 0 = off      600
LOCATOR_TILES              base map: osm, tianditu, amap or none            osm
LOCATOR_TIANDITU_KEY       key for Tianditu tiles                           (none)
LOCATOR_REFRESH_SECONDS    how often to pick up other processes' writes     2
LOCATOR_MAX_QUERY_LENGTH   longest accepted query string, characters        2048
LOCATOR_MAX_CONTENT_LENGTH largest accepted request body, bytes             1048576
LOCATOR_GC_FREEZE          exempt start-up objects from the cyclic GC       true
LOCATOR_DEMAND             planner demand layer (points/polygons/raster)    illustrative Xuzhou layer
LOCATOR_DISTRICTS          planner district boundaries (adcode, name)       Xuzhou's 10 districts
LOCATOR_PBF                OpenStreetMap extract for the road-network engine (none: straight line)
LOCATOR_PLANNER_WORKERS    threads running coverage/suggest jobs            2
LOCATOR_PLANNER_QUEUE      jobs queued or running before 429                8
LOCATOR_PLANNER_JOB_TTL    seconds finished jobs are kept                   600
LOCATOR_PLANNER_TIMEOUT    seconds before an unfinished job is abandoned   3600
LOCATOR_PLANNER_WAIT       default seconds a POST waits before 202          2
LOCATOR_PLANNER_PAGE_WAIT  seconds /planner waits before a reloading page   10
=========================  ===============================================  ==========

A planner job runs in the process that accepted it, and its record is kept in the
station database (table ``planner_jobs``), so any worker or server sharing that database
answers a poll.

A prebuilt :class:`locator.Registry` may be passed as ``config["LOCATOR_REGISTRY"]``
(tests and benchmarks do).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, request

from .._paths import templates_dir
from ..store.registry import Registry
from .jsonfast import OrjsonProvider

DEFAULTS: dict[str, Any] = {
    "LOCATOR_DB": None,
    "LOCATOR_CORS_ORIGINS": "",
    "LOCATOR_RATE_LIMIT": 600,
    "LOCATOR_TILES": "osm",
    "LOCATOR_TIANDITU_KEY": "",
    "LOCATOR_REFRESH_SECONDS": 2.0,
    "LOCATOR_MAX_QUERY_LENGTH": 2048,
    "LOCATOR_MAX_CONTENT_LENGTH": 1024 * 1024,
    "LOCATOR_GC_FREEZE": True,
    "LOCATOR_DEMAND": None,
    "LOCATOR_DISTRICTS": None,
    "LOCATOR_PBF": None,
    "LOCATOR_PLANNER_WORKERS": 2,
    "LOCATOR_PLANNER_QUEUE": 8,
    "LOCATOR_PLANNER_JOB_TTL": 600,
    "LOCATOR_PLANNER_TIMEOUT": 3600,
    "LOCATOR_PLANNER_WAIT": 2.0,
    "LOCATOR_PLANNER_PAGE_WAIT": 10.0,
}
_TYPES = {"LOCATOR_PLANNER_WORKERS": int, "LOCATOR_PLANNER_QUEUE": int,
          "LOCATOR_PLANNER_JOB_TTL": float, "LOCATOR_PLANNER_WAIT": float,
          "LOCATOR_PLANNER_PAGE_WAIT": float,
          "LOCATOR_PLANNER_TIMEOUT": float,
          "LOCATOR_GC_FREEZE": lambda v: str(v).lower() not in ("0", "false", "no", ""),
          "LOCATOR_RATE_LIMIT": int, "LOCATOR_REFRESH_SECONDS": float,
          "LOCATOR_MAX_QUERY_LENGTH": int, "LOCATOR_MAX_CONTENT_LENGTH": int}


def _load_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(DEFAULTS)
    for key in DEFAULTS:
        if key in os.environ:
            out[key] = os.environ[key]
    out.update(config or {})
    for key, typ in _TYPES.items():
        try:
            out[key] = typ(out[key])
        except (TypeError, ValueError):
            raise ValueError(f"{key}={out[key]!r} is not a valid setting") from None
    tiles = str(out["LOCATOR_TILES"]).lower()
    if tiles not in ("osm", "tianditu", "amap", "none"):
        raise ValueError(f"LOCATOR_TILES={tiles!r}; allowed: osm, tianditu, amap, none")
    out["LOCATOR_TILES"] = tiles
    return out


class RegistryHolder:
    """The app's registry, refreshed (at most every few seconds) when another process
    (another gunicorn worker, the CLI) has written to the store."""

    def __init__(self, registry: Registry, refresh_seconds: float):
        self.registry = registry
        self.refresh_seconds = refresh_seconds
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def get(self) -> Registry:
        if self.refresh_seconds > 0 and time.monotonic() - self._checked > self.refresh_seconds:
            if self._lock.acquire(blocking=False):
                try:
                    self._checked = time.monotonic()
                    self.registry.refresh_if_changed()
                finally:
                    self._lock.release()
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
    if cfg["LOCATOR_GC_FREEZE"]:
        # The station records and the index are long-lived: move them out of the cyclic
        # garbage collector's sight, so that collections triggered by per-request garbage
        # do not walk hundreds of thousands of objects (latency spikes under load).
        gc.collect()
        gc.freeze()
    app.extensions["locator"] = RegistryHolder(registry, cfg["LOCATOR_REFRESH_SECONDS"])

    from . import assets
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
    app.register_blueprint(pages.bp)
    app.register_blueprint(planner.bp)
    app.register_blueprint(planner_api.bp)
    if cfg["LOCATOR_PBF"]:
        factory = _network_factory(cfg["LOCATOR_PBF"])
        app.extensions["locator.network_engine"] = factory
        # Build (or load from the disk cache) the walking graph now, in the background, so
        # that the first planner run or reach request does not wait for it.
        threading.Thread(target=_warm_up, args=(factory,), name="locator-network-warm-up",
                         daemon=True).start()
    from .api.fastpath import NearestFastPath

    app.wsgi_app = NearestFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
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

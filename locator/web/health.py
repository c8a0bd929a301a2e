"""``GET /healthz``: can this app server answer, and how far behind the store is it?

For a load balancer or an orchestrator's probe (issue #11, "Many app servers, one truth"):

* ``store``: reachable (one cheap query: the newest change-log entry), and that entry's
  sequence number;
* ``index``: the newest change-log entry this worker's in-memory index reflects, and the
  ``lag`` (entries committed but not applied yet: another process's writes reach this
  worker within ``LOCATOR_REFRESH_SECONDS``);
* ``worker``: this process's id and how it learns of other processes' writes (``wake``:
  "notify" on PostgreSQL, "poll" on SQLite; ``listening``; ``reconnects``);
* ``redis``: null when ``LOCATOR_REDIS_URL`` is not set (rate limits count per process);
  else ``reachable`` (one PING, with its round trip in ``ms``, or the ``error``), ``where``
  (host:port/db, never the password) and how the rate limit counts right now:
  ``shared``, or ``per-process`` while Redis is down
  (:mod:`locator.web.shared_limits`).

200 when the store (and Redis, when configured) answers; 503 (``Retry-After``) when one
does not: readers are still answered then (from the index; rate limits per process), but
writes would fail or limits would not be shared, so a balancer should know.
Never cached.
"""

from __future__ import annotations

import os
import time

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    from . import get_registry

    registry = get_registry()
    link = current_app.extensions.get("locator.redis")
    index_seq = registry.seen_change
    t0 = time.perf_counter()
    try:
        store_seq = registry.store.last_change_id()
    except sa.exc.SQLAlchemyError as e:
        store = {"reachable": False,
                 "error": f"{type(e.__cause__ or e).__name__}: the database did not answer"}
        store_seq = None
    else:
        store = {"reachable": True, "seq": store_seq,
                 "ms": round((time.perf_counter() - t0) * 1000, 2)}
    redis = None if link is None else link.ping()
    healthy = bool(store["reachable"]) and (redis is None or bool(redis["reachable"]))
    body = {
        "status": "ok" if healthy else "unavailable",
        "store": store,
        "index": {"seq": index_seq, "stations": len(registry.index),
                  "lag": None if store_seq is None else max(0, store_seq - index_seq)},
        "redis": redis,
        # Which worker answered, and how it follows the change log (so a probe that
        # lands on each worker in turn can see every one catch up).
        "worker": {"pid": os.getpid(), **registry.follow_status},
    }
    resp = jsonify(body)
    resp.status_code = 200 if healthy else 503
    resp.headers["Cache-Control"] = "no-store"
    if not healthy:
        resp.headers["Retry-After"] = "5"
    return resp

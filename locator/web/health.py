"""``GET /healthz``: can this app server answer, and how far behind the store is it?

For a load balancer or an orchestrator's probe (issue #11, "Many app servers, one truth"):

* ``store``: reachable (one cheap query: the newest change-log entry), and that entry's
  sequence number;
* ``index``: the newest change-log entry this worker's in-memory index reflects, and the
  ``lag`` (entries committed but not applied yet: another process's writes reach this
  worker within ``LOCATOR_REFRESH_SECONDS``);
* ``worker``: this process's id and how it learns of other processes' writes (``wake``:
  "notify" on PostgreSQL, "poll" on SQLite; ``listening``; ``reconnects``);
* ``redis``: null until shared rate limits and sessions (``LOCATOR_REDIS_URL``) exist.

200 when the store answers, 503 (``Retry-After``) when it does not: readers are still
answered from the index then, but writes would fail, so a balancer should know.
Never cached.
"""

from __future__ import annotations

import os
import time

import sqlalchemy as sa
from flask import Blueprint, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    from . import get_registry

    registry = get_registry()
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
    body = {
        "status": "ok" if store["reachable"] else "unavailable",
        "store": store,
        "index": {"seq": index_seq, "stations": len(registry.index),
                  "lag": None if store_seq is None else max(0, store_seq - index_seq)},
        "redis": None,
        # Which worker answered, and how it follows the change log (so a probe that
        # lands on each worker in turn can see every one catch up).
        "worker": {"pid": os.getpid(), **registry.follow_status},
    }
    resp = jsonify(body)
    resp.status_code = 200 if store["reachable"] else 503
    resp.headers["Cache-Control"] = "no-store"
    if not store["reachable"]:
        resp.headers["Retry-After"] = "5"
    return resp

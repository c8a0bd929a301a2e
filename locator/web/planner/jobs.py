"""Planner jobs: long runs in a bounded thread pool, their state shared through SQL.

A job runs in the process that accepted it, on one of ``workers`` threads. Its record
(status, result or problem) lives in the table ``planner_jobs`` of the station store's
database (:mod:`locator.store.jobs`), so that any process of the app can answer a poll:
with several gunicorn workers, or several servers on one PostgreSQL database, the poll
need not reach the process that runs the job. Finished jobs are deleted ``ttl`` seconds
after they end (and beyond ``MAX_KEPT_JOBS``).

A job whose process stopped (a restart, a crash) would stay "running" for ever: a job
not finished ``timeout`` seconds after it was created is reported as failed, and no
longer counts against the queue limit.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy.engine import Engine

from ...errors import InvalidInput, LocatorError
from ...store.jobs import MAX_KEPT_JOBS, JobTable
from ..security import TooManyRequests

log = logging.getLogger(__name__)

__all__ = ["MAX_KEPT_JOBS", "Job", "JobManager", "problem_of"]


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat(
        timespec="seconds")


def problem_of(exc: BaseException) -> dict[str, Any]:
    """The problem details a failed job reports (no internals for unexpected errors)."""
    if isinstance(exc, InvalidInput):
        return {"status": 400, "title": "Invalid parameter", "detail": str(exc),
                "invalid_params": [{"name": exc.field or "request", "reason": exc.message}]}
    if isinstance(exc, LocatorError):
        return {"status": 400, "title": "Bad Request", "detail": str(exc)}
    return {"status": 500, "title": "Internal Server Error",
            "detail": "unexpected error; it has been logged"}


class Job:
    """A job started by this process: its id, and what only this process knows (the
    future, and the exception of a failed run)."""

    def __init__(self, kind: str):
        self.id = secrets.token_hex(12)
        self.kind = kind
        self.future: Any = None
        self.exc: BaseException | None = None
        self.status = "queued"
        self.result: dict[str, Any] | None = None


class JobManager:
    """Runs jobs on a thread pool and keeps their records in ``engine``'s database.

    Parameters
    ----------
    engine
        A SQLAlchemy engine (the station store's); ``planner_jobs`` is created in it.
    workers, max_pending
        Threads of this process; jobs queued or running at once across all processes
        sharing the database (beyond: 429 with ``Retry-After``).
    ttl
        Seconds a finished job stays readable.
    timeout
        Seconds after which an unfinished job counts as abandoned.
    """

    def __init__(self, engine: Engine, *, workers: int = 2, max_pending: int = 8,
                 ttl: float = 600.0, timeout: float = 3600.0):
        self.engine = engine
        self.workers = max(1, int(workers))
        self.max_pending = max(1, int(max_pending))
        self.ttl = float(ttl)
        self.timeout = float(timeout)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"[:200]
        self.table = JobTable(engine, ttl=self.ttl, timeout=self.timeout)
        self._pool = ThreadPoolExecutor(max_workers=self.workers,
                                        thread_name_prefix="planner-job")
        self._submit_lock = threading.Lock()

    def submit(self, kind: str, fn: Callable[[], dict[str, Any]]) -> Job:
        """Record and queue ``fn``; raises 429 when ``max_pending`` jobs are queued or
        running."""
        job = Job(kind)
        with self._submit_lock:
            pending = self.table.insert_if_room(job_id=job.id, kind=kind, owner=self.owner,
                                                at=time.time(), max_pending=self.max_pending)
        if pending is not None:
            err = TooManyRequests(5)
            err.description = (f"the planner is busy ({pending} runs queued or running, "
                               f"at most {self.max_pending}); retry later")
            raise err
        job.future = self._pool.submit(self._run, job, fn)
        return job

    def _set(self, job_id: str, **values: Any) -> None:
        self.table.set(job_id, **values)

    def _run(self, job: Job, fn: Callable[[], dict[str, Any]]) -> None:
        try:
            job.status = "running"
            self._set(job.id, status="running")
            result = fn()
            body = orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)
        except BaseException as e:  # noqa: BLE001 - every failure is recorded
            if not isinstance(e, LocatorError):
                log.exception("planner job %s (%s) failed", job.id, job.kind)
            job.exc = e
            try:
                self._set(job.id, status="failed", finished=time.time(),
                          error=orjson.dumps(problem_of(e)))
            except Exception:  # noqa: BLE001 - the database is gone; the log has it
                log.exception("planner job %s: the failure could not be recorded", job.id)
            job.status = "failed"
            return
        job.result = result
        try:
            self._set(job.id, status="done", finished=time.time(), result=body)
        except Exception as e:  # noqa: BLE001
            log.exception("planner job %s: the result could not be stored", job.id)
            job.exc = e
            job.status = "failed"
            return
        job.status = "done"

    def wait(self, job: Job, seconds: float) -> bool:
        """Wait up to ``seconds`` for a job of this process; True if it has ended."""
        if seconds > 0:
            wait_futures([job.future], timeout=seconds)
        return job.status in ("done", "failed")

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The record of any job in the database (``to_dict`` form), or None."""
        t = time.time()
        row = self.table.get(job_id)
        if row is None or (row["finished"] is not None and row["finished"] < t - self.ttl):
            return None
        status, error = row["status"], row["error"]
        finished = row["finished"]
        if status in ("queued", "running") and row["created"] < t - self.timeout:
            status, finished = "failed", None
            error = orjson.dumps({"status": 500, "title": "Job abandoned",
                                  "detail": f"the job did not finish within {self.timeout:g} s; "
                                            "the server running it may have restarted; "
                                            "submit it again"})
        return {"id": row["id"], "kind": row["kind"], "status": status,
                "result": orjson.loads(row["result"]) if row["result"] else None,
                "error": orjson.loads(error) if error else None,
                "created": _iso(row["created"]), "finished": _iso(finished)}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

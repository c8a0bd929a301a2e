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

Shared runs: a job submitted with a ``key`` (:mod:`.share`) is computed once for all
processes on the database. If a record of the same run has finished (and is not yet
pruned), its stored result is the answer (``Job.origin == "stored"``); if one is queued
or running, in this process or another, the job *is* that record (``"joined"``): the
caller waits for it and polls its id; otherwise this process runs it (``"computed"``).
The answer is always the stored bytes (:attr:`Job.body`), so a reused answer is
byte-for-byte the one its computing worker gave.
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
from typing import Any, NoReturn

import orjson
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from werkzeug.exceptions import ServiceUnavailable

from ...errors import InvalidInput, LocatorError
from ...store.jobs import BEAT_EVERY_S, MAX_KEPT_JOBS, STALE_AFTER_S, JobTable
from ..security import TooManyRequests

log = logging.getLogger(__name__)

__all__ = ["MAX_KEPT_JOBS", "Job", "JobManager", "problem_of", "raise_failure"]


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
    if database_down(exc):
        return {"status": 503, "title": "Service Unavailable",
                "detail": "the database could not be reached during the run; try again"}
    return {"status": 500, "title": "Internal Server Error",
            "detail": "unexpected error; it has been logged"}


def database_down(exc: BaseException | None) -> bool:
    """Whether ``exc`` is the database being unreachable (restarting, down, busy)."""
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError,
                            sa_exc.TimeoutError))


class Job:
    """A job as this process sees it: its id and status, and what only the process
    running it knows (the future, and the exception of a failed run).

    ``origin`` says where the answer comes from: ``"computed"`` (this process runs it),
    ``"stored"`` (a finished record of the same run) or ``"joined"`` (a record of the
    same run queued or running when this one was submitted). ``body`` is the stored
    answer (JSON bytes) once done; ``problem`` the problem details of a failed job.
    """

    def __init__(self, kind: str, *, job_id: str | None = None, origin: str = "computed"):
        self.id = job_id or secrets.token_hex(12)
        self.kind = kind
        self.origin = origin
        self.future: Any = None
        self.exc: BaseException | None = None
        self.status = "queued"
        self.result: dict[str, Any] | None = None
        self.body: bytes | None = None
        self.problem: dict[str, Any] | None = None


def raise_failure(job: Job) -> NoReturn:
    """Answer a failed run as the problem it reported: its own exception when this
    process ran it, else the problem recorded by the process that did."""
    if isinstance(job.exc, LocatorError) or database_down(job.exc):
        raise job.exc  # type: ignore[misc]  # (database_down: an exception)
    p = job.problem or {}
    if p.get("status") == 400:
        params = p.get("invalid_params") or [{}]
        name, reason = params[0].get("name"), params[0].get("reason")
        if name and reason:
            raise InvalidInput(reason, field=None if name == "request" else name)
        raise LocatorError(str(p.get("detail") or "the run failed"))
    if p.get("status") == 503:  # another process's run met a database outage
        raise ServiceUnavailable(f"{p.get('detail')}", retry_after=5)
    if p.get("title") in ("Job lost", "Job abandoned"):
        # The process running it went away (or its record did): worth another try.
        raise ServiceUnavailable(f"{p.get('detail')}", retry_after=1)
    raise RuntimeError(f"planner job {job.id} failed: {p.get('detail')}") from job.exc


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
    stale_after
        Seconds without a sign of life from the process running a job (it marks its
        jobs every ``beat_every`` seconds) after which the job counts as abandoned: a
        killed worker's run is computed again at the next request, not after
        ``timeout``. Every process on one database should use the same value (the
        app's ``LOCATOR_PLANNER_STALE``); ``beat_every`` is at most a third of it.
    """

    def __init__(self, engine: Engine, *, workers: int = 2, max_pending: int = 8,
                 ttl: float = 600.0, timeout: float = 3600.0,
                 stale_after: float = STALE_AFTER_S, beat_every: float = BEAT_EVERY_S):
        self.engine = engine
        self.workers = max(1, int(workers))
        self.max_pending = max(1, int(max_pending))
        self.ttl = float(ttl)
        self.timeout = float(timeout)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"[:200]
        self.stale_after = float(stale_after)
        self.beat_every = min(float(beat_every), self.stale_after / 3)
        self.table = JobTable(engine, ttl=self.ttl, timeout=self.timeout,
                              stale_after=self.stale_after)
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=self.workers,
                                        thread_name_prefix="planner-job")
        self._submit_lock = threading.Lock()
        #: This process's jobs still running, by id (a joined job waits on its future).
        self._running: dict[str, Job] = {}
        #: Runs this process has computed (each one a record in ``planner_jobs``).
        self.computed = 0

    def submit(self, kind: str, fn: Callable[[], dict[str, Any]], *,
               key: str | None = None) -> Job:
        """Record and queue ``fn``, or, with ``key``, answer the record of the same run
        (see the module docstring); raises 429 when ``max_pending`` jobs are queued or
        running."""
        job = Job(kind)
        with self._submit_lock:
            claim = self.table.claim(job_id=job.id, kind=kind, owner=self.owner,
                                     at=time.time(), max_pending=self.max_pending,
                                     run_key=key)
            if claim.outcome == "new":
                # Under the lock, so that a job joining this one finds it with its future.
                job.future = self._pool.submit(self._run, job, fn)
                self._running[job.id] = job
                if self._beater is None:
                    self._beater = threading.Thread(target=self._beat, daemon=True,
                                                    name="planner-job-beat")
                    self._beater.start()
        if claim.outcome == "done":
            assert claim.row is not None
            found = Job(kind, job_id=claim.row["id"], origin="stored")
            found.status, found.body = "done", claim.row["result"]
            return found
        if claim.outcome == "pending":
            assert claim.row is not None
            found = Job(kind, job_id=claim.row["id"], origin="joined")
            found.status = claim.row["status"]
            return found
        if claim.outcome == "full":
            err = TooManyRequests(5)
            err.description = (f"the planner is busy ({claim.pending} runs queued or "
                               f"running, at most {self.max_pending}); retry later")
            raise err
        return job

    def _beat(self) -> None:
        """Mark this process's unfinished jobs alive while it has any."""
        while not self._stop.wait(self.beat_every):
            with self._submit_lock:
                busy = bool(self._running)
            if not busy:
                continue
            try:
                self.table.beat(self.owner, time.time())
            except Exception as e:  # noqa: BLE001 - the database is away: try again later
                log.warning("planner jobs: could not mark running jobs alive (%s)",
                            type(e).__name__)

    def _set(self, job_id: str, **values: Any) -> None:
        self.table.set(job_id, **values)

    def _run(self, job: Job, fn: Callable[[], dict[str, Any]]) -> None:
        try:
            self._compute(job, fn)
        finally:
            with self._submit_lock:
                self._running.pop(job.id, None)

    def _compute(self, job: Job, fn: Callable[[], dict[str, Any]]) -> None:
        try:
            job.status = "running"
            self._set(job.id, status="running")
            self.computed += 1
            result = fn()
            # bytes are stored as they are (the planner page's sealed runs, see .page)
            body = result if isinstance(result, bytes) else orjson.dumps(
                result, option=orjson.OPT_SERIALIZE_NUMPY)
        except BaseException as e:  # noqa: BLE001 - every failure is recorded
            if database_down(e):
                log.warning("planner job %s (%s): the database did not answer", job.id,
                            job.kind)
            elif not isinstance(e, LocatorError):
                log.exception("planner job %s (%s) failed", job.id, job.kind)
            job.exc = e
            job.problem = problem_of(e)
            try:
                self._set(job.id, status="failed", finished=time.time(),
                          error=orjson.dumps(job.problem))
            except Exception:  # noqa: BLE001 - the database is gone; the log has it
                log.warning("planner job %s: the failure could not be recorded", job.id)
            job.status = "failed"
            return
        try:
            # One UPDATE, one transaction: the result is stored whole or not at all.
            self._set(job.id, status="done", finished=time.time(), result=body)
        except Exception as e:  # noqa: BLE001
            if database_down(e):
                log.warning("planner job %s: the result could not be stored (the database "
                            "did not answer)", job.id)
            else:
                log.exception("planner job %s: the result could not be stored", job.id)
            job.exc = e
            job.problem = problem_of(e)
            job.status = "failed"
            return
        job.result, job.body = result, body
        job.status = "done"

    def wait(self, job: Job, seconds: float, *, poll: float = 0.05) -> bool:
        """Wait up to ``seconds`` for a job; True if it has ended. A job of this process
        is waited for on its future; a joined job of another process by reading its
        record every ``poll`` seconds (growing to 0.5 s)."""
        if job.status in ("done", "failed"):
            return True
        if job.future is None:
            with self._submit_lock:
                mine = self._running.get(job.id)
            if mine is not None:  # joined a run of this very process
                ended = self.wait(mine, seconds)
                job.status, job.body, job.problem, job.exc = (mine.status, mine.body,
                                                              mine.problem, mine.exc)
                return ended
            return self._wait_record(job, seconds, poll)
        if seconds > 0:
            wait_futures([job.future], timeout=seconds)
        return job.status in ("done", "failed")

    def _wait_record(self, job: Job, seconds: float, poll: float) -> bool:
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            row = self.get(job.id, raw=True)
            if row is None:  # pruned meanwhile (or the database was emptied)
                job.status = "failed"
                job.problem = {"status": 500, "title": "Job lost",
                               "detail": f"the run {job.id} is no longer recorded; submit "
                                         "it again"}
                return True
            job.status = row["status"]
            if job.status == "done":
                job.body = row["result"]
                return True
            if job.status == "failed":
                job.problem = row["error"]
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(poll, left))
            poll = min(0.5, poll * 1.5)

    def get(self, job_id: str, *, raw: bool = False) -> dict[str, Any] | None:
        """The record of any job in the database (``to_dict`` form), or None. With
        ``raw``, ``result`` is left as the stored JSON bytes."""
        t = time.time()
        row = self.table.get(job_id)
        if row is None or (row["finished"] is not None and row["finished"] < t - self.ttl):
            return None
        status, error = row["status"], row["error"]
        finished = row["finished"]
        why = self.table.abandoned(row, t)
        if why is not None:
            status, finished = "failed", None
            detail = (f"the job did not finish within {self.timeout:g} s; the server "
                      "running it may have restarted; submit it again" if why == "timeout"
                      else f"the server process running it stopped (no sign of life for "
                      f"{self.stale_after:g} s); submit it again")
            error = orjson.dumps({"status": 500, "title": "Job abandoned", "detail": detail})
        result = row["result"] if raw else _public_result(row)
        return {"id": row["id"], "kind": row["kind"], "status": status, "result": result,
                "error": orjson.loads(error) if error else None,
                "created": _iso(row["created"]), "finished": _iso(finished)}

    def shutdown(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


#: Job kinds whose stored result is not JSON (sealed for the processes of the app only).
PRIVATE_KINDS = frozenset({"page"})


def _public_result(row: Any) -> Any:
    """A record's result as the jobs API shows it: the JSON answer, or None (not yet
    done, or a planner page run, which is stored for the app's own processes)."""
    if not row["result"] or row["kind"] in PRIVATE_KINDS:
        return None
    return orjson.loads(row["result"])

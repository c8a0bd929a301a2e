"""Rate limits shared by every worker and host through Redis (``LOCATOR_REDIS_URL``).

Without Redis each process counts alone (:class:`locator.web.security.RateLimiter`): with
``gunicorn -w 2`` a client gets twice the limit, with two hosts four times. With
``LOCATOR_REDIS_URL`` set, :class:`SharedRateLimiter` keeps one token bucket per client
in Redis, updated by one Lua script (atomic on the server, so concurrent workers and
hosts never lose or double a count), on Redis's own clock (hosts whose clocks differ
still agree). A bucket expires once it would be full again: idle clients cost nothing.

Redis is never allowed to break or slow down the API:

* every call has a short socket timeout (:data:`TIMEOUT_S`);
* when Redis fails or times out, the request is counted by this process's own bucket
  instead (the limit you get without Redis: fail open towards the shared limit, never a
  500, never a wait); one warning is logged per outage, not one per request;
* while Redis is down, one request per :data:`RETRY_S` tries it again (the others do
  not wait for that try); the first that succeeds switches back, with one log line.

Login lockouts and staff sessions need no Redis: they are rows in the shared database
(the audit log and ``staff_sessions``, see :mod:`locator.staff.service`), as are the
rider report and check-in limits (:mod:`locator.upkeep`).

``redis`` is imported only when ``LOCATOR_REDIS_URL`` is set.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .security import RateLimiter

log = logging.getLogger(__name__)

#: Seconds any one Redis call may take (connect, send or answer) before it counts as down.
TIMEOUT_S = 0.1
#: While Redis is down, seconds between tries.
RETRY_S = 1.0
#: Prefix of every key this app writes (``LOCATOR_REDIS_PREFIX`` changes it).
DEFAULT_PREFIX = "locator:"

# One token bucket per key: a hash {tokens, at} (at: Redis time in ms). ARGV: capacity,
# tokens per millisecond, key lifetime in ms. Returns {allowed 0/1, retry after (s)}.
_TOKEN_BUCKET = """
local cap = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1])
local at = tonumber(saved[2])
if tokens == nil or at == nil then
  tokens = cap
else
  if now < at then now = at end  -- a clock that stepped back refills nothing
  tokens = math.min(cap, tokens + (now - at) * per_ms)
end
local ok, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
else
  wait = math.max(1, math.ceil((1 - tokens) / per_ms / 1000))
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'at', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {ok, wait}
"""


class RedisLink:
    """This app's connection to Redis and whether it currently answers.

    Parameters
    ----------
    url
        ``redis://[:password@]host:port/db`` (or ``rediss://``, ``unix://``).
    prefix
        Prefix of every key written.
    timeout_s, retry_s
        See :data:`TIMEOUT_S` and :data:`RETRY_S`.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX,
                 timeout_s: float = TIMEOUT_S, retry_s: float = RETRY_S):
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as e:  # pragma: no cover - redis is a dependency of [redis]
            raise RuntimeError(f"LOCATOR_REDIS_URL is set but the redis package is missing "
                               f"({e}): pip install 'station-locator[redis]'") from None
        try:
            # One immediate retry on a broken connection (a pooled connection that Redis
            # closed when it restarted), none on a timeout: a call never takes longer
            # than twice the timeout.
            self.client = redis.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                health_check_interval=0)
        except ValueError as e:
            raise ValueError(f"LOCATOR_REDIS_URL={url!r} is not a valid setting ({e}); "
                             "expected redis://host:6379/0") from None
        kw = self.client.connection_pool.connection_kwargs
        self.where = (str(kw["path"]) if "path" in kw else
                      f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}") + \
            f"/{kw.get('db', 0)}"
        self.prefix = prefix
        self.retry_s = retry_s
        self._lock = threading.Lock()
        self._down_since: float | None = None  # wall-clock time of the outage's first failure
        self._next_try = 0.0  # monotonic
        self.last_error: str | None = None
        self.outages = 0

    # The up/down state: only one warning per outage, one try per retry_s while down.
    @property
    def up(self) -> bool:
        return self._down_since is None

    def usable(self) -> bool:
        """Whether this call should go to Redis: always while it is up; while it is down,
        one call per ``retry_s`` (the caller that gets True makes the try)."""
        if self._down_since is None:
            return True
        now = time.monotonic()
        with self._lock:
            if now < self._next_try:
                return False
            self._next_try = now + self.retry_s
            return True

    def failed(self, e: BaseException) -> None:
        self.last_error = f"{type(e).__name__}: {e}"[:200]
        with self._lock:
            self._next_try = time.monotonic() + self.retry_s
            if self._down_since is not None:
                return
            self._down_since = time.time()
            self.outages += 1
        log.warning("Redis at %s did not answer (%s): rate limits count per process until "
                    "it is back (trying again every %g s)", self.where, self.last_error,
                    self.retry_s)

    def succeeded(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("Redis at %s answers again after %.1f s: rate limits are shared "
                        "again", self.where, time.time() - since)

    def ping(self) -> dict[str, Any]:
        """For ``/healthz``: ``reachable`` and the round trip in ``ms``, or the error."""
        t0 = time.perf_counter()
        try:
            self.client.ping()
        except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
            self.failed(e)
            return {"reachable": False, "where": self.where, "error": self.last_error,
                    "rate_limit": "per-process"}
        ms = round((time.perf_counter() - t0) * 1000, 2)
        self.succeeded()
        return {"reachable": True, "where": self.where, "ms": ms, "rate_limit": "shared"}

    def close(self) -> None:
        self.client.close()


class SharedRateLimiter:
    """A token bucket per key in Redis: ``per_minute`` requests, bursts up to that many,
    the same for every worker and host sharing the Redis server. The interface of
    :class:`locator.web.security.RateLimiter`; falls back to one when Redis is down."""

    def __init__(self, link: RedisLink, per_minute: int):
        if per_minute <= 0:
            raise ValueError(f"per_minute={per_minute}; must be at least 1")
        self.link = link
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.fallback = RateLimiter(per_minute)
        # Full again after capacity / rate seconds: the bucket may be forgotten then.
        self._ttl_ms = int(self.capacity / self.rate * 1000) + 1000
        self._args = (per_minute, repr(self.rate / 1000.0), self._ttl_ms)
        self._key = f"{link.prefix}rate:"
        self._script = link.client.register_script(_TOKEN_BUCKET)

    def allow(self, key: str) -> tuple[bool, int]:
        """``(allowed, retry_after_s)`` for one request of ``key`` (a client address).
        Never raises and never waits longer than the Redis timeout."""
        if self.link.usable():
            try:
                ok, wait = self._script(keys=[self._key + key], args=self._args)
            except Exception as e:  # noqa: BLE001 - Redis must never fail a request
                self.link.failed(e)
            else:
                self.link.succeeded()
                return bool(ok), int(wait)
        return self.fallback.allow(key)

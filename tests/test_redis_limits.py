"""Limits that hold across workers and hosts (issue #11).

The API rate limit counts in Redis when ``LOCATOR_REDIS_URL`` is set: one limit for two
app instances, for two real gunicorn worker processes over HTTP and for two servers;
when Redis refuses, stays silent or goes away the API still answers (counting per
process) and ``/healthz`` says 503, and the limit is shared again by itself once Redis is
back (a private ``redis-server`` stopped and restarted). Login lockouts and sessions
live in the database: failures on one server count on the other, a session made on one
is valid on the other and a logout on one ends it on the other (SQLite and PostgreSQL).

Redis: ``LOCATOR_TEST_REDIS`` (default redis://127.0.0.1:6379/0); every test writes
under its own key prefix and deletes its keys. Where Redis is not reachable the tests
skip, saying how to enable them; with ``CI`` or ``LOCATOR_TEST_REQUIRE_REDIS`` set they
fail instead.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from locator.store.registry import Registry
from locator.web import create_app
from locator.web.shared_limits import RedisLink, SharedRateLimiter

REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
LOG = "locator.web.shared_limits"


# ------------------------------------------------------------------ fixtures
def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def redis_unavailable(reason: str):
    """Skip with ``reason`` (which says how to enable the tests), or fail in CI."""
    if _flag("CI") or _flag("LOCATOR_TEST_REQUIRE_REDIS"):
        pytest.fail(f"{reason} [CI / LOCATOR_TEST_REQUIRE_REDIS: the Redis tests must run, "
                    "not skip]", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis server's URL, or a skip saying how to get one (a failure in CI)."""
    import redis

    url = os.environ.get("LOCATOR_TEST_REDIS") or REDIS_DEFAULT
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        redis_unavailable(f"Redis not reachable at {url} ({e}); set "
                          "LOCATOR_TEST_REDIS=redis://HOST:PORT/DB or start it "
                          "(redis-server --daemonize yes)")
    finally:
        client.close()
    return url


@pytest.fixture()
def prefix(redis_url):
    """A key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    p = f"locator-test:{secrets.token_hex(4)}:"
    yield p
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=p + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _keys(url: str, prefix: str) -> dict[str, dict[bytes, bytes]]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        return {k.decode(): client.hgetall(k) for k in client.scan_iter(match=prefix + "*")}
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def make_app(db_path, tiny_stations):
    """Apps on one SQLite database (each with its own registry, as another host would
    have); their Redis links are closed afterwards."""
    from locator import StationStore

    seed = StationStore(db_path, create=True)
    seed.add_many(tiny_stations, actor="pytest")
    seed.dispose()
    made = []

    def make(**config):
        reg = Registry.open(str(db_path))
        app = create_app({"LOCATOR_REGISTRY": reg, "LOCATOR_REFRESH_SECONDS": 0,
                          "LOCATOR_TILES": "none", **config})
        made.append((app, reg))
        return app

    yield make
    for app, reg in made:
        link = app.extensions["locator.redis"]
        if link is not None:
            link.close()
        reg.store.dispose()


def _nearest(tiny_stations) -> str:
    st = tiny_stations[0]
    return f"/api/v1/nearest?lon={st.lon}&lat={st.lat}&k=1"


def _hammer(clients, path: str, n: int) -> list[tuple[int, str | None]]:
    """``n`` GETs of ``path`` from each client, all clients at once, two threads each."""
    out: list[tuple[int, str | None]] = []
    lock = threading.Lock()
    start = threading.Barrier(2 * len(clients))

    def run(client):
        got = []
        start.wait()
        for _ in range(n):
            r = client.get(path)
            got.append((r.status_code, r.headers.get("Retry-After")))
        with lock:
            out.extend(got)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# ------------------------------------------------------------------ the limiter itself
def test_bucket_in_redis_has_token_bucket_semantics_and_expires(redis_url, prefix):
    link = RedisLink(redis_url, prefix=prefix)
    try:
        lim = SharedRateLimiter(link, 6)  # 6 a minute: one token every 10 s
        got = [lim.allow("10.0.0.1") for _ in range(8)]
        assert got == [(True, 0)] * 6 + [(False, 10)] * 2
        assert lim.allow("10.0.0.2") == (True, 0)  # another client has its own bucket
        key = prefix + "rate:10.0.0.1"
        stored = _keys(redis_url, prefix)[key]
        assert float(stored[b"tokens"]) < 0.01
        # Forgotten once it would be full again (60 s + 1 s), never kept forever.
        assert 59_000 < link.client.pttl(key) <= 61_000
        lim2 = SharedRateLimiter(link, 120)  # 2 a second: the wait is 1 s, then a token
        assert [lim2.allow("10.0.0.3")[0] for _ in range(121)].count(True) == 120
        assert lim2.allow("10.0.0.3") == (False, 1)
        time.sleep(0.6)
        assert lim2.allow("10.0.0.3") == (True, 0)
    finally:
        link.close()


@pytest.mark.parametrize(("redis", "most"), [(True, 1), (False, 2)],
                         ids=["shared-in-redis", "per-process-without-redis"])
def test_two_app_instances_share_one_limit(make_app, request, tiny_stations, redis, most):
    config = {"LOCATOR_RATE_LIMIT": 60}
    if redis:
        config |= {"LOCATOR_REDIS_URL": request.getfixturevalue("redis_url"),
                   "LOCATOR_REDIS_PREFIX": request.getfixturevalue("prefix")}
    apps = [make_app(**config), make_app(**config)]
    t0 = time.monotonic()
    got = _hammer([a.test_client() for a in apps], _nearest(tiny_stations), 50)
    elapsed = time.monotonic() - t0
    ok = sum(1 for status, _ in got if status == 200)
    # 200 requests from one address: 60 answered per bucket (plus 1 a second of refill).
    assert 60 * most <= ok <= 60 * most + most * (int(elapsed) + 1)
    refused = [retry for status, retry in got if status != 200]
    assert len(refused) == 200 - ok and all(r is not None and int(r) >= 1 for r in refused)
    assert {status for status, _ in got} == {200, 429}


# ------------------------------------------------------------------ real processes
def _start_gunicorn(tmp_path: Path, name: str, *, workers: int, env: dict[str, str],
                    app_spec: str) -> tuple[subprocess.Popen, int, Path]:
    port = _free_port()
    log = tmp_path / f"{name}-access.log"
    errors = tmp_path / f"{name}-error.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with open(errors, "w") as err:  # the server writes it; this process closes its copy
        proc = subprocess.Popen(
            [str(gunicorn), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--access-logfile",
             str(log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "--timeout", "60",
             app_spec],
            env={**os.environ, "LOCATOR_TILES": "none", **env}, stdout=subprocess.DEVNULL,
            stderr=err)
    end = time.monotonic() + 60
    while True:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request("GET", "/healthz")
            c.getresponse().read()
            return proc, port, log
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                raise AssertionError(f"gunicorn did not start: {errors.read_text()}") from None
            time.sleep(0.2)
        finally:
            c.close()  # also when the server accepted but did not answer yet


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _get(port: int, path: str, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def _app_spec(prefix: str) -> str:
    # gunicorn calls the factory with this literal mapping (the prefix is not a setting).
    return f"locator.web:create_app({{'LOCATOR_REDIS_PREFIX': {prefix!r}}})"


def test_two_gunicorn_workers_hold_one_limit_over_http(redis_url, prefix, tmp_path,
                                                        tiny_stations):
    """The bug of issue #11: with 2 workers one address got 2x the limit. Here 10 s of
    requests from one address, 6 at a time, get at most the bucket (120) plus its refill
    (2 a second), although both workers answer."""
    from locator import StationStore

    db = tmp_path / "g.sqlite"
    seed = StationStore(db, create=True)
    seed.add_many(tiny_stations, actor="pytest")
    seed.dispose()
    proc, port, log = _start_gunicorn(
        tmp_path, "w2", workers=2, app_spec=_app_spec(prefix),
        env={"LOCATOR_DB": str(db), "LOCATOR_RATE_LIMIT": "120",
             "LOCATOR_REDIS_URL": redis_url})
    path = _nearest(tiny_stations)
    statuses: list[int] = []
    lock = threading.Lock()
    try:
        t0 = time.monotonic()

        def client():
            mine = []
            while time.monotonic() - t0 < 10:
                mine.append(_get(port, path)[0])
            with lock:
                statuses.extend(mine)

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        status, _, body = _get(port, "/healthz")
        assert status == 200 and b'"rate_limit":"shared"' in body
    finally:
        _stop(proc)
    ok = statuses.count(200)
    assert set(statuses) == {200, 429}
    assert len(statuses) > 3 * ok  # the clients asked far more than the limit allows
    assert 120 <= ok <= 120 + 2 * elapsed + 2, (ok, len(statuses), elapsed)
    served = [line.split() for line in log.read_text().splitlines()
              if " /api/v1/nearest " in line]
    assert len({pid for pid, _, _, s in served if s == "200"}) == 2  # both workers answered


# ------------------------------------------------------------------ Redis down
class _SilentServer:
    """A TCP port that accepts connections (the kernel's backlog) and never answers: a
    Redis host that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("how", ["refused", "silent"])
def test_unreachable_redis_keeps_the_api_answering(make_app, tiny_stations, caplog, how):
    silent = _SilentServer() if how == "silent" else None
    port = silent.port if silent else _free_port()
    try:
        app = make_app(LOCATOR_RATE_LIMIT=5, LOCATOR_REDIS_URL=f"redis://127.0.0.1:{port}/0")
        client = app.test_client()
        path = _nearest(tiny_stations)
        with caplog.at_level(logging.WARNING, logger=LOG):
            times, statuses = [], []
            for _ in range(30):
                t0 = time.perf_counter()
                r = client.get(path)
                times.append(time.perf_counter() - t0)
                statuses.append(r.status_code)
            h = client.get("/healthz")
        # This process's own bucket counts meanwhile: 5 answers, then 429 (never a 500).
        assert statuses == [200] * 5 + [429] * 25
        # A hanging Redis costs one timeout (0.1 s), not one per request.
        assert max(times) < 0.6 and sum(times) < 1.5, times
        assert h.status_code == 503 and h.headers["Retry-After"] == "5"
        body = h.get_json()
        assert body["status"] == "unavailable" and body["store"]["reachable"] is True
        assert body["redis"]["reachable"] is False and body["redis"]["where"] == \
            f"127.0.0.1:{port}/0"
        assert body["redis"]["rate_limit"] == "per-process"
        assert ("Timeout" if silent else "Connection") in body["redis"]["error"]
        warned = [r for r in caplog.records if r.name == LOG]
        assert len(warned) == 1 and "did not answer" in warned[0].getMessage()
    finally:
        if silent:
            silent.close()


class _PrivateRedis:
    """A redis-server of this test's own on a free port (no persistence), to stop and
    start again."""

    def __init__(self, exe: str, tmp: Path) -> None:
        self.exe, self.tmp, self.port = exe, tmp, _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=0.5)
        end = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    assert time.monotonic() < end, "redis-server did not start"
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture()
def private_redis(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        redis_unavailable("redis-server is not installed (apt-get install redis-server): "
                          "the test stops and restarts a Redis server of its own")
    server = _PrivateRedis(exe, tmp_path)
    server.start()
    yield server
    server.stop()


def test_limiter_is_shared_again_by_itself_when_redis_returns(make_app, private_redis,
                                                               tiny_stations, caplog):
    app = make_app(LOCATOR_RATE_LIMIT=600, LOCATOR_REDIS_URL=private_redis.url)
    client = app.test_client()
    path = _nearest(tiny_stations)
    bucket = "locator:rate:127.0.0.1"
    with caplog.at_level(logging.WARNING, logger=LOG):
        for _ in range(10):
            assert client.get(path).status_code == 200
        assert float(_keys(private_redis.url, "locator:")[bucket][b"tokens"]) < 595
        private_redis.stop()
        for _ in range(10):  # counted per process meanwhile
            assert client.get(path).status_code == 200
        h = client.get("/healthz")
        assert h.status_code == 503 and h.get_json()["redis"]["reachable"] is False
        private_redis.start()  # empty: nothing was saved
        assert _keys(private_redis.url, "locator:") == {}
        t0 = time.monotonic()
        while bucket not in _keys(private_redis.url, "locator:"):
            assert time.monotonic() - t0 < 3, "the limiter did not go back to Redis"
            assert client.get(path).status_code == 200
            time.sleep(0.05)
        back_after = time.monotonic() - t0
        h = client.get("/healthz")
    assert back_after < 1.5  # one try a second (RETRY_S)
    line = h.get_json()["redis"]
    assert h.status_code == 200 and line["reachable"] is True and line["rate_limit"] == "shared"
    assert 0 < line["ms"] < 100 and line["where"] == f"127.0.0.1:{private_redis.port}/0"
    assert h.get_json()["status"] == "ok"
    msgs = [r.getMessage() for r in caplog.records if r.name == LOG]
    assert len(msgs) == 2 and "did not answer" in msgs[0] and "answers again" in msgs[1]


# ------------------------------------------------------------------ lockouts and sessions
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _Browser:
    """One browser's cookies, sent to any server (two servers behind one balancer)."""

    def __init__(self, address: str = "") -> None:
        self.cookies: dict[str, str] = {}
        self.address = address  # X-Forwarded-For, when the servers trust a proxy

    def request(self, port: int, method: str, path: str, form: dict[str, str] | None = None
                ) -> tuple[int, dict[str, str], str]:
        from urllib.parse import urlencode

        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if self.address:
            headers["X-Forwarded-For"] = self.address
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            for k, v in r.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    value = rest.split(";", 1)[0]
                    if value in ("", '""') or "Max-Age=0" in v or "1970" in v:
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = value
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
        finally:
            c.close()

    def login(self, port: int, name: str, password: str) -> int:
        _, _, page = self.request(port, "GET", "/staff/login")
        return self.request(port, "POST", "/staff/login", {
            "csrf_token": _CSRF.search(page)[1], "name": name, "password": password})[0]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_lockout_and_sessions_hold_across_two_app_instances(backend, request, db_path,
                                                            tiny_stations):
    from staff_support import FAST, PW

    from locator import StationStore

    url = str(db_path) if backend == "sqlite" else request.getfixturevalue("pg_url")
    seed = StationStore(url, create=True)
    seed.add_many(tiny_stations, actor="pytest")
    seed.dispose()
    regs = [Registry.open(url), Registry.open(url)]
    try:
        a, b = (create_app({"LOCATOR_REGISTRY": r, "LOCATOR_RATE_LIMIT": 0,
                            "LOCATOR_REFRESH_SECONDS": 0, "LOCATOR_TILES": "none"})
                for r in regs)
        for app in (a, b):
            app.extensions["locator.accounts"].hasher = FAST
        svc = a.extensions["locator.accounts"]
        svc.add_user("alice", PW, role="editor", actor="pytest")
        svc.add_user("bob", PW, role="editor", actor="pytest")

        def login(client, name, password):
            page = client.get("/staff/login").get_data(as_text=True)
            return client.post("/staff/login", data={
                "csrf_token": _CSRF.search(page)[1], "name": name, "password": password})

        # Five failures, three on A and two on B, lock the account on both (the fifth
        # failure is answered 429 already: B counted A's three).
        ca, cb = a.test_client(), b.test_client()
        assert [login(ca, "alice", "wrong").status_code for _ in range(3)] == [401] * 3
        assert [login(cb, "alice", "wrong").status_code for _ in range(2)] == [401, 429]
        for c in (ca, cb):
            r = login(c, "alice", PW)  # the right password, refused while locked
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 800
        # A session made on A is valid on B (the same cookie, another app instance).
        assert login(ca, "bob", PW).status_code == 303
        cookie = ca.get_cookie("locator_session").value
        cb.set_cookie("locator_session", cookie)
        page = cb.get("/staff/stations")
        assert page.status_code == 200 and "bob" in page.get_data(as_text=True)
        # Logout on B ends it on A.
        csrf = _CSRF.search(page.get_data(as_text=True))[1]
        assert cb.post("/staff/logout", data={"csrf_token": csrf}).status_code == 303
        r = ca.get("/staff/stations")
        assert r.status_code == 302 and "/staff/login" in r.headers["Location"]
        assert svc.count_audit_events(action="logout", result="ok") == 1
    finally:
        for r in regs:
            r.store.dispose()


def test_two_servers_share_rate_limit_lockout_and_sessions(redis_url, prefix, pg_url,
                                                            tmp_path, tiny_stations):
    """Two gunicorn servers (two hosts behind a balancer) on one PostgreSQL database and
    one Redis: one rate limit, one lockout count, one set of sessions."""
    from staff_support import FAST, PW

    from locator import StationStore
    from locator.staff.service import AccountService

    store = StationStore(pg_url, create=True)
    store.add_many(tiny_stations, actor="pytest")
    env = {"LOCATOR_DB": pg_url, "LOCATOR_RATE_LIMIT": "30", "LOCATOR_REDIS_URL": redis_url,
           "LOCATOR_TRUSTED_PROXIES": "1"}
    servers = [_start_gunicorn(tmp_path, name, workers=1, env=env, app_spec=_app_spec(prefix))
               for name in ("host1", "host2")]
    try:
        svc = AccountService(store.engine, hasher=FAST)
        svc.add_user("alice", PW, role="editor", actor="pytest")
        svc.add_user("bob", PW, role="editor", actor="pytest")
        p1, p2 = servers[0][1], servers[1][1]
        # The rate limit: 30 a minute for one address, whichever host it reaches.
        addr = {"X-Forwarded-For": "198.18.0.7"}
        path = _nearest(tiny_stations)
        got = [_get(p, path, addr)[0] for _ in range(30) for p in (p1, p2)]
        assert got.count(200) in (30, 31) and got.count(429) == 60 - got.count(200)
        assert _get(p1, path, {"X-Forwarded-For": "198.18.0.8"})[0] == 200  # another address
        # Lockout: failures on both hosts add up.
        web = _Browser("198.18.0.9")
        assert [web.login(p, "alice", "wrong") for p in (p1, p2, p1, p2, p1)] == \
            [401] * 4 + [429]
        assert web.login(p2, "alice", PW) == 429
        # Sessions: made on host 1, used on host 2, ended on host 2, gone on host 1.
        assert web.login(p1, "bob", PW) == 303
        status, _, page = web.request(p2, "GET", "/staff/stations")
        assert status == 200 and "bob" in page
        kept = _Browser("198.18.0.9")  # the cookie as it was before the logout
        kept.cookies = dict(web.cookies)
        assert web.request(p2, "POST", "/staff/logout", {"csrf_token": _CSRF.search(page)[1]}
                           )[0] == 303
        status, headers, _ = kept.request(p1, "GET", "/staff/stations")
        assert status == 302 and "/staff/login" in headers["location"]
        assert svc.count_audit_events(action="logout", result="ok") == 1
    finally:
        for proc, _, _ in servers:
            _stop(proc)
        store.dispose()
